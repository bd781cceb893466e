using System.Globalization;
using Deem.Benchmarks;
using Deem.World.Benchmarks;
using Deem.World;

namespace Deem.Tests.World.Benchmarks;

public class WorldRobustVqaTests : IClassFixture<TinyWorld>
{
    readonly TinyWorld _world;
    public WorldRobustVqaTests(TinyWorld world) => _world = world;

    [Fact]
    public void MinesTheClassifiersStrongestWrongClassOverTheWorldsFolders()
    {
        using var d = new Scratch();
        var classifier = new FolderClassifier();
        var built = WorldRobustVqa.Build(_world.Root, classifier, d["robustvqa_test.json"], batchSize: 5);
        int perSplit = WorldOptions.Tiny.Counts.TestImagesPerSplit;
        Assert.Equal(perSplit, WorldOptions.Tiny.TestImagesInDistribution);
        Assert.Equal(["imagenet_a", "imagenet_id", "imagenet_r", "imagenet_v2"], built.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(4 * (int)Math.Ceiling(perSplit / 5.0), classifier.ImageCalls); // batched per split
        var shapes = WorldVocabulary.Shapes;
        foreach (var (split, entries) in built)
        {
            Assert.Equal(perSplit, entries.Count);
            foreach (var e in entries)
            {
                Assert.StartsWith(split + "/", e.FileName);
                Assert.True(File.Exists(Path.Combine(WorldRobustVqa.RobustRoot(_world.Root), e.FileName)));
                int cls = Array.FindIndex(shapes, s => WorldVocabulary.ClassName(s) == e.GtCaption);
                Assert.Equal(WorldWriter.Wnid(cls), e.FileName.Split('/')[1]); // the caption is the folder's class
                Assert.Equal(WorldVocabulary.ClassName(shapes[(cls + 1) % shapes.Length]), e.ErrorCaption);
            }
        }
        // the real reader reads it; same images and captions as the world's own rule-mined file
        var again = RobustVqa.Load(d["robustvqa_test.json"]);
        var own = RobustVqa.Load(Path.Combine(WorldRobustVqa.RobustRoot(_world.Root), "robustvqa_test.json"));
        foreach (var split in RobustVqa.Splits)
        {
            Assert.Equal(built[split], again[split]);
            Assert.Equal(own[split].Select(e => (e.FileName, e.GtCaption)).Order(), again[split].Select(e => (e.FileName, e.GtCaption)).Order());
        }
    }

    [Fact]
    public void BuildingTwiceGivesIdenticalBytes()
    {
        using var d = new Scratch();
        WorldRobustVqa.Build(_world.Root, new FolderClassifier(), d["one.json"]);
        WorldRobustVqa.Build(_world.Root, new FolderClassifier(), d["two.json"]);
        Assert.Equal(File.ReadAllBytes(d["one.json"]), File.ReadAllBytes(d["two.json"]));
    }

    [Fact]
    public void NotAWorldFolderIsAFormatError()
    {
        using var d = new Scratch();
        Assert.Throws<DeemFormatException>(() => WorldRobustVqa.Build(d.Path, new FolderClassifier(), d["x.json"]));
        Assert.Throws<DeemFormatException>(() => WorldSource.ReadOptions(d.Path));
    }

    [Fact]
    public void ReadsTheWorldsOptionsBackFromItsManifest()
    {
        var options = WorldSource.ReadOptions(_world.Root);
        Assert.Equal(WorldOptions.Tiny.ImageSize, options.ImageSize);
        Assert.Equal(WorldOptions.Tiny.Counts, options.Counts);
    }

    [Fact]
    public void AlwaysYesScoresHalfOracleScoresAll()
    {
        using var d = new Scratch();
        string json = d["robustvqa_test.json"], root = WorldRobustVqa.RobustRoot(_world.Root);
        WorldRobustVqa.Build(_world.Root, new FolderClassifier(), json);
        var yes = RobustVqaRunner.Run(new AlwaysYes(), json, root, d["yes"]);
        Assert.Equal((50.0, 50.0, 50.0, 50.0), (yes.A, yes.R, yes.V, yes.Scores.Overall));
        var oracle = RobustVqaRunner.Run(new SceneOracle(), json, root, d["oracle"]);
        Assert.Equal((100.0, 100.0, 100.0, 100.0), (oracle.A, oracle.R, oracle.V, oracle.Scores.Overall));
        Assert.Equal(6 * WorldOptions.Tiny.Counts.TestImagesPerSplit + 2 * WorldOptions.Tiny.TestImagesInDistribution, oracle.Questions);
        Assert.Equal(100.0, oracle.Scores.PerSplit["imagenet_id"]);
        var scores = ScoresFile.Read(oracle.ScoresPath);
        Assert.Equal(100.0, (double)scores["imagenet_r"]!);
        Assert.Equal(oracle.Questions, (int)scores["questions"]!);

        // each split's interval is Wilson's over that split's own questions, in the file and in the suite's table
        int idQuestions = 2 * WorldOptions.Tiny.TestImagesInDistribution;
        Assert.Equal(idQuestions, oracle.Scores.QuestionsPerSplit!["imagenet_id"]);
        var (lo, hi) = Stats.Wilson(0.5, idQuestions);
        Assert.Equal((100 * lo, 100 * hi), yes.Scores.Interval("imagenet_id"));
        Assert.Equal([100 * lo, 100 * hi], ScoresFile.Read(yes.ScoresPath)["ci95"]!["imagenet_id"]!.AsArray().Select(x => (double)x!));
        Assert.Null(yes.Scores.Interval("imagenet_s"));
        string table = new BenchmarkSuiteResult(yes, null, null).ToMarkdown();
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"| imagenet_id | 50.00 | {100 * lo:F2}–{100 * hi:F2} |"), table);
    }
}
