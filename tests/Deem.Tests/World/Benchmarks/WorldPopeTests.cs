using Deem.Benchmarks;
using Deem.World.Benchmarks;
using Deem.Data.Formats;
using Deem.World;

namespace Deem.Tests.World.Benchmarks;

public class WorldPopeTests : IClassFixture<TinyWorld>
{
    readonly TinyWorld _world;
    public WorldPopeTests(TinyWorld world) => _world = world;

    static readonly WorldPopeOptions Small = new() { Seed = 3, Images = 8, ImageSize = 32 };

    // Training-split objects: the shapes of training scenes drawn from their own streams.
    static IReadOnlyList<PopeImageObjects> TrainObjects(int n) =>
        Enumerable.Range(0, n).Select(i => SceneSampler.Train(WorldRng.For(11, "train", i)))
            .Select((s, i) => new PopeImageObjects($"t{i}.png", s.Objects.Select(o => WorldVocabulary.Name(o.Shape)).Distinct().ToArray())).ToList();

    [Fact]
    public void SameSeedWritesIdenticalFilesOtherSeedDiffers()
    {
        using var a = new Scratch();
        using var b = new Scratch();
        using var c = new Scratch();
        var train = TrainObjects(40);
        WorldPope.Make(a.Path, Small, train);
        WorldPope.Make(b.Path, Small, train);
        WorldPope.Make(c.Path, Small with { Seed = 4 }, train);
        var ha = Scratch.Hashes(a.Path);
        Assert.Equal(ha, Scratch.Hashes(b.Path));
        Assert.Equal(Small.Images + 4, ha.Count); // images + instances + three question files
        var hc = Scratch.Hashes(c.Path);
        foreach (string f in new[] { "coco_pope_random.json", "coco_pope_popular.json", "coco_pope_adversarial.json" })
            Assert.NotEqual(ha[f], hc[f]);
    }

    [Fact]
    public void YesObjectsArePresentNoObjectsAbsentAndFilesAreBalanced()
    {
        using var d = new Scratch();
        var r = WorldPope.Make(d.Path, Small, TrainObjects(40));
        foreach (var strategy in Enum.GetValues<PopeStrategy>())
        {
            var qs = Pope.Load(r.Files[strategy]); // the real POPE reader
            Assert.Equal(r.Questions[strategy], qs);
            Assert.Equal(Small.Images * 2 * Small.SamplesPerImage, qs.Count);
            Assert.Equal(qs.Count / 2, qs.Count(q => q.Label == "yes"));
            Assert.Equal(qs.Select((_, i) => (long)i), qs.Select(q => q.QuestionId));
            foreach (var g in qs.GroupBy(q => q.Image))
            {
                var scene = r.Scenes[g.Key];
                var present = scene.Objects.Select(o => WorldVocabulary.Name(o.Shape)).ToHashSet();
                var asked = g.Select(q => ObjectOf(q.Text)).ToList();
                Assert.Equal(asked.Count, asked.Distinct().Count()); // never the same object twice per image
                foreach (var q in g)
                    Assert.Equal(q.Label == "yes", present.Contains(ObjectOf(q.Text)));
                Assert.True(File.Exists(Path.Combine(r.ImageDir, g.Key)));
            }
        }
    }

    static string ObjectOf(string text)
    {
        Assert.Matches("^Is there an? .+ in the image\\?$", text);
        return text.Split(' ', 4)[3].Replace(" in the image?", "");
    }

    [Fact]
    public void ObjectsComeFromTheCocoInstancesAndMatchTheScenes()
    {
        using var d = new Scratch();
        var r = WorldPope.Make(d.Path, Small, TrainObjects(10));
        var objects = WorldPope.ObjectsFromCoco(r.InstancesPath);
        Assert.Equal(Small.Images, objects.Count);
        foreach (var im in objects)
        {
            var shapes = r.Scenes[im.Image].Objects.Select(o => WorldVocabulary.Name(o.Shape)).Distinct().ToList();
            Assert.Equal(shapes, im.Objects);
            Assert.True(im.Objects.Count >= Small.SamplesPerImage);
        }
        var coco = Coco.Read(r.InstancesPath, r.ImageDir, new SkipCounter(strict: true)); // every image decodes
        Assert.Equal(Small.Images, coco.Images.Count);
        Assert.Equal(13, coco.Categories.Count);
    }

    [Fact]
    public void WithStatisticsOfTheEvaluatedImagesItEqualsPopeBuilder()
    {
        var objects = Enumerable.Range(0, 30).Select(i => SceneSampler.Train(WorldRng.For(2, "x", i)))
            .Select((s, i) => new PopeImageObjects($"{i}.png", s.Objects.Select(o => WorldVocabulary.Name(o.Shape)).Distinct().ToArray()))
            .Where(im => im.Objects.Count >= 2).ToList();
        Assert.True(objects.Count >= 10);
        var stats = WorldPope.Statistics(objects);
        foreach (var strategy in Enum.GetValues<PopeStrategy>())
            Assert.Equal(PopeBuilder.Build(objects, strategy, samplesPerImage: 2, seed: 9),
                WorldPope.BuildQuestions(objects, strategy, stats, samplesPerImage: 2, seed: 9));
    }

    [Fact]
    public void PopularAndAdversarialNegativesFollowTheTrainingStatistics()
    {
        // training: circle most frequent; square always with star
        var train = new List<PopeImageObjects>
        {
            new("a", ["circle", "ring"]), new("b", ["circle", "heart"]), new("c", ["circle"]),
            new("d", ["square", "star"]), new("e", ["square", "star", "ring"]),
        };
        var stats = WorldPope.Statistics(train, WorldVocabulary.Shapes.Select(WorldVocabulary.Name));
        Assert.Equal(13, stats.Categories.Count);
        Assert.Equal(["circle", "ring", "square", "star", "heart"], stats.Popular.Take(5)); // 3, 2, 2, 2, 1 (ties first-seen)
        var eval = new List<PopeImageObjects> { new("x.png", ["square", "key"]) };
        var popular = WorldPope.BuildQuestions(eval, PopeStrategy.Popular, stats, samplesPerImage: 2);
        Assert.Equal(["circle", "ring"], popular.Where(q => q.Label == "no").Select(q => ObjectOf(q.Text)));
        var adversarial = WorldPope.BuildQuestions(eval, PopeStrategy.Adversarial, stats, samplesPerImage: 2);
        var negs = adversarial.Where(q => q.Label == "no").Select(q => ObjectOf(q.Text)).ToList();
        Assert.Equal("star", negs[0]);                                       // square's top co-occurring class
        Assert.DoesNotContain(negs[1], new[] { "square", "key", "star" });  // key never seen in training: random absent class
    }

    [Fact]
    public void ForAWorldTheHeldOutScenesAvoidItsTrainingScenes()
    {
        using var d = new Scratch();
        var r = WorldPope.MakeForWorld(_world.Root, d.Path, Small);
        var train = WorldSource.TrainKeys(WorldSource.ReadOptions(_world.Root));
        Assert.True(train.Count > 20);
        Assert.DoesNotContain(r.Scenes.Values, s => train.Contains(s.ContentKey));
        Assert.Equal(Small.Images, r.Scenes.Values.Select(s => s.ContentKey).Distinct().Count());
    }

    [Fact]
    public void AlwaysYesScoresHalfOracleScoresAll()
    {
        using var d = new Scratch();
        using var o = new Scratch();
        var r = WorldPope.Make(d.Path, Small, TrainObjects(40));
        var yes = PopeRunner.Run(new AlwaysYes(), d.Path, r.ImageDir, o["yes"]);
        foreach (var s in yes.Splits)
        {
            Assert.Equal(50.0, s.DeemAccuracy, 12);
            Assert.Equal((0.5, 1.0, 0.5, 1.0), (s.Official.Accuracy, s.Official.YesRatio, s.Official.Precision, s.Official.Recall));
            Assert.Equal(2.0 / 3, s.Official.F1, 12); // 2 · ½ · 1 / (½ + 1)
        }
        var oracle = PopeRunner.Run(new SceneOracle(pope: r), d.Path, r.ImageDir, o["oracle"]);
        Assert.Equal(["random", "popular", "adversarial"], oracle.Splits.Select(s => s.Split));
        foreach (var s in oracle.Splits)
        {
            Assert.Equal(100.0, s.DeemAccuracy, 12);
            Assert.Equal((1.0, 1.0, 1.0, 0.5), (s.Official.Accuracy, s.Official.F1, s.Official.Precision, s.Official.YesRatio));
        }
        var scores = ScoresFile.Read(Path.Combine(o["oracle"], PopeRunner.ScoresFileName));
        Assert.Equal(100.0, (double)scores["adversarial"]!["accuracy_deem"]!);
        Assert.Equal(50.0, (double)scores["random"]!["yes_ratio"]!);
        // always "yes": half right; the interval is Wilson's over the split's questions, around the accuracy
        var yesScores = ScoresFile.Read(Path.Combine(o["yes"], PopeRunner.ScoresFileName));
        int n = (int)yesScores["random"]!["questions"]!;
        var (lo, hi) = Stats.Wilson(0.5, n);
        Assert.Equal([100 * lo, 100 * hi], yesScores["random"]!["accuracy_ci95"]!.AsArray().Select(x => (double)x!));
        Assert.True(100 * lo < 50 && 50 < 100 * hi);
    }
}
