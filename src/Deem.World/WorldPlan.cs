using System.Security.Cryptography;
using System.Text;

namespace Deem.World;

/// <summary>A story with the file stem of each of its images.</summary>
public sealed record PlannedStory(string Id, Story Story, IReadOnlyList<string> ImageIds);

/// <summary>A single-image item (caption pair, VQA item, region image, test image).</summary>
public sealed record PlannedImage(string Id, Scene Scene, IReadOnlyList<VqaItem> Questions);

/// <summary>A test-split image with the class of its main object and RobustVQA's hard negative.</summary>
public sealed record PlannedTest(string Id, WorldSplit Split, Scene Scene, ShapeKind Class, ShapeKind Negative);

/// <summary>
/// Every scene and text of a world, before any pixel is drawn. Train-side parts come first; the test
/// splits then reject any scene whose content (<see cref="Scene.ContentKey"/>) occurs on the train side,
/// so train and test never share a scene description. Each item draws from its own
/// <see cref="WorldRng"/> stream (seed, part, index), so the plan is a pure function of the options.
/// </summary>
public sealed class WorldPlan
{
    public required WorldOptions Options { get; init; }
    public required IReadOnlyList<PlannedStory> Stories { get; init; }
    public required IReadOnlyList<PlannedImage> Captions { get; init; }
    public required IReadOnlyList<PlannedImage> Vqa { get; init; }
    public required IReadOnlyList<PlannedImage> Regions { get; init; }
    public required IReadOnlyList<PlannedTest> Tests { get; init; }

    /// <summary>Content keys of every train-side scene.</summary>
    public IEnumerable<string> TrainKeys =>
        Stories.SelectMany(s => s.Story.Images).Concat(Captions.Concat(Vqa).Concat(Regions).Select(p => p.Scene)).Select(s => s.ContentKey);

    public static WorldPlan Build(WorldOptions o)
    {
        o.Validate("WorldOptions");
        var c = o.Counts;
        var stories = Enumerable.Range(0, c.Mmc4Docs).Select(i =>
        {
            var rng = WorldRng.For(o.Seed, "mmc4", i);
            var story = StoryGenerator.Make(rng, rng.Next(2, 5));
            return new PlannedStory(Id(o.Seed, "mmc4", i), story,
                Enumerable.Range(0, story.Images.Count).Select(k => Id(o.Seed, $"mmc4/{i}", k)).ToList());
        }).ToList();
        List<PlannedImage> Singles(string part, int n, int questions) => Enumerable.Range(0, n).Select(i =>
        {
            var rng = WorldRng.For(o.Seed, part, i);
            var scene = SceneSampler.Train(rng);
            return new PlannedImage(Id(o.Seed, part, i), scene, questions > 0 ? VqaGenerator.ForItem(rng, scene, questions, o.YesNo) : []);
        }).ToList();
        var captions = Singles("laion", c.CaptionPairs, 0);
        var vqa = Singles("llava", c.VqaImages, o.QuestionsPerImage);
        var regions = Singles("coco", c.RegionImages, 0);

        var train = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in stories) foreach (var sc in s.Story.Images) train.Add(sc.ContentKey);
        foreach (var p in captions.Concat(vqa).Concat(regions)) train.Add(p.Scene.ContentKey);

        var tests = new List<PlannedTest>();
        foreach (var split in new[] { WorldSplit.A, WorldSplit.R, WorldSplit.V, WorldSplit.InDistribution })
        {
            string part = "test-" + split.ToString().ToLowerInvariant();
            int n = split == WorldSplit.InDistribution ? o.TestImagesInDistribution : c.TestImagesPerSplit;
            for (int i = 0; i < n; i++)
            {
                var cls = WorldVocabulary.Shapes[i % WorldVocabulary.Shapes.Length];
                var rng = WorldRng.For(o.Seed, part, i);
                Scene scene;
                int tries = 0;
                do
                {
                    scene = SceneSampler.Test(rng, split, cls);
                    if (++tries > 1000) throw new InvalidOperationException($"no {split} scene of class {cls} outside the training set after 1000 draws");
                } while (train.Contains(scene.ContentKey));
                tests.Add(new PlannedTest(Id(o.Seed, part, i), split, scene, cls, Negative(scene, cls)));
            }
        }
        return new WorldPlan { Options = o, Stories = stories, Captions = captions, Vqa = vqa, Regions = regions, Tests = tests };
    }

    /// <summary>RobustVQA's hard negative (reference §6.1 uses CLIP's strongest wrong class). Here: the class
    /// whose training-typical colour is the main object's colour — the answer a colour-biased encoder
    /// would give — or else a look-alike class.</summary>
    public static ShapeKind Negative(Scene scene, ShapeKind cls)
    {
        string colour = scene.Objects[0].Colour;
        foreach (var s in WorldVocabulary.Shapes)
            if (s != cls && WorldVocabulary.TypicalColour(s) == colour) return s;
        return cls switch
        {
            ShapeKind.Circle => ShapeKind.Ring, ShapeKind.Ring => ShapeKind.Circle, ShapeKind.Square => ShapeKind.House,
            ShapeKind.House => ShapeKind.Square, ShapeKind.Cross => ShapeKind.TShape, ShapeKind.TShape => ShapeKind.Cross,
            ShapeKind.Star => ShapeKind.Heart, ShapeKind.Heart => ShapeKind.Star, ShapeKind.Arrow => ShapeKind.Triangle,
            ShapeKind.Triangle => ShapeKind.Arrow, ShapeKind.Key => ShapeKind.LShape, ShapeKind.LShape => ShapeKind.Key,
            _ => ShapeKind.Circle,
        };
    }

    /// <summary>12 hex characters naming an item (MMC4 image names are 12-character hashes).</summary>
    public static string Id(int seed, string part, long index)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"deem-world/{seed}/{part}/{index}"));
        return Convert.ToHexStringLower(hash, 0, 6);
    }
}
