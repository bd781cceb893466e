using Deem.Benchmarks;
using Deem.Data.Formats;
using Deem.World;
using Deem.IO;

namespace Deem.World.Benchmarks;

/// <summary>Options of the world's POPE benchmark (<see cref="WorldPope"/>).</summary>
public sealed record WorldPopeOptions
{
    /// <summary>Seed of the held-out scenes and of the random negatives.</summary>
    public int Seed { get; init; } = 0;

    /// <summary>Held-out images (the official files use 500 COCO val2014 images).</summary>
    public int Images { get; init; } = 500;

    /// <summary>Square image size in pixels.</summary>
    public int ImageSize { get; init; } = 64;

    /// <summary>Present (and as many absent) objects asked per image (POPE: 3); every image has at least this many shape classes.</summary>
    public int SamplesPerImage { get; init; } = 3;

    public void Validate(string source)
    {
        if (Images <= 0) throw new DeemConfigException(source, "images", $"must be positive, found {Images}");
        if (ImageSize < 16 || ImageSize > 4096) throw new DeemConfigException(source, "image_size", $"must be in [16, 4096], found {ImageSize}");
        if (SamplesPerImage < 1 || SamplesPerImage > 4)
            throw new DeemConfigException(source, "samples_per_image", $"must be in [1, 4] (a world scene holds at most 4 objects), found {SamplesPerImage}");
    }
}

/// <summary>Category statistics that choose POPE's negatives: all categories (first-seen order), categories by
/// frequency, and per category its co-occurring categories by count (ties keep first-seen order).</summary>
public sealed record PopeStatistics(IReadOnlyList<string> Categories, IReadOnlyList<string> Popular,
    IReadOnlyDictionary<string, IReadOnlyList<string>> CoOccurring);

/// <summary>What <see cref="WorldPope.Make"/> wrote.</summary>
/// <param name="ImageDir">The flat image folder (<c>val2014/</c>).</param>
/// <param name="InstancesPath">COCO instances of the held-out images.</param>
/// <param name="Files">The question file of each strategy.</param>
/// <param name="Questions">The questions of each strategy.</param>
/// <param name="Scenes">The held-out scene of each image file name.</param>
public sealed record WorldPopeResult(string ImageDir, string InstancesPath, IReadOnlyDictionary<PopeStrategy, string> Files,
    IReadOnlyDictionary<PopeStrategy, IReadOnlyList<PopeQuestion>> Questions, IReadOnlyDictionary<string, Scene> Scenes);

/// <summary>
/// POPE on the procedural world (Li et al., 2023; paper §4; reference §6.2). The world's shape classes
/// are the "objects". A fresh held-out set of in-distribution scenes (the training sampler, scenes whose
/// content occurs on the world's training side rejected, at least <see cref="WorldPopeOptions.SamplesPerImage"/>
/// shape classes each) is rendered as PNGs into a flat <c>val2014/</c> folder with COCO instances
/// <c>annotations/instances_val2014.json</c> (visible-pixel RLE masks); the objects present per image are
/// read back from those instances. Questions follow <see cref="PopeBuilder"/>'s rules (first k present
/// objects → "yes"; per positive one absent object → "no"; random / popular / adversarial; random fallback),
/// except that popularity and co-occurrence are counted on the world's training split, not on the
/// evaluated images. Output: <c>coco_pope_{random,popular,adversarial}.json</c> JSON lines in the real layout.
/// </summary>
public static class WorldPope
{
    public const string ImageFolder = "val2014";
    public const string InstancesFile = "annotations/instances_val2014.json";

    /// <summary>Image file name of held-out image <paramref name="index"/> (COCO val2014 style, PNG).</summary>
    public static string ImageName(int index) => $"COCO_val2014_{index + 1:D12}.png";

    /// <summary>COCO category of a shape (id = enum value + 1, as the world's own instances file).</summary>
    public static CocoCategory Category(ShapeKind s) => new((int)s + 1, WorldVocabulary.Name(s), "shape");

    /// <summary>The held-out scenes: scene i draws from stream (seed, "pope", i) until it has enough shape classes
    /// and its content is neither in <paramref name="exclude"/> nor already taken.</summary>
    public static IReadOnlyList<Scene> SampleScenes(WorldPopeOptions options, IReadOnlySet<string>? exclude = null)
    {
        options.Validate(nameof(WorldPopeOptions));
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var scenes = new List<Scene>();
        for (int i = 0; i < options.Images; i++)
        {
            var rng = WorldRng.For(options.Seed, "pope", i);
            for (int tries = 0; ; tries++)
            {
                if (tries > 10000) throw new InvalidOperationException($"no held-out POPE scene {i} with {options.SamplesPerImage} shape classes after 10000 draws");
                var scene = SceneSampler.Train(rng);
                if (scene.Objects.Select(o => o.Shape).Distinct().Count() < options.SamplesPerImage) continue;
                if (exclude?.Contains(scene.ContentKey) == true || !taken.Add(scene.ContentKey)) continue;
                scenes.Add(scene);
                break;
            }
        }
        return scenes;
    }

    /// <summary>Objects per image of a COCO instances file: distinct category names in annotation order;
    /// images in file order (an image without annotations has none).</summary>
    public static IReadOnlyList<PopeImageObjects> ObjectsFromCoco(string instancesPath)
    {
        var data = Coco.Read(instancesPath, null, new SkipCounter(strict: true));
        var names = data.Categories.ToDictionary(c => c.Id, c => c.Name);
        var byImage = data.Annotations.GroupBy(a => a.ImageId).ToDictionary(g => g.Key, g => g.Select(a =>
            names.TryGetValue(a.CategoryId, out var n) ? n
                : throw new DeemFormatException(instancesPath, $"annotation {a.Id} has unknown category {a.CategoryId}.", "category_id")).Distinct().ToArray());
        return data.Images.Select(im => new PopeImageObjects(im.FileName, byImage.GetValueOrDefault(im.Id, []))).ToList();
    }

    /// <summary>Counts categories over <paramref name="images"/> as <see cref="PopeBuilder"/> does; categories of
    /// <paramref name="extraCategories"/> never seen there are appended (frequency 0) so they can be drawn as negatives.</summary>
    public static PopeStatistics Statistics(IReadOnlyList<PopeImageObjects> images, IEnumerable<string>? extraCategories = null)
    {
        var (categories, popular, co) = PopeBuilder.CountCategories(
            images.Select(im => (IReadOnlyList<string>)im.Objects.Distinct(StringComparer.Ordinal).ToArray()), extraCategories);
        var coSorted = co.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value, StringComparer.Ordinal);
        return new PopeStatistics(categories, popular, coSorted);
    }

    /// <summary>
    /// POPE questions of one strategy over <paramref name="images"/> with negatives chosen from
    /// <paramref name="stats"/> (<see cref="PopeBuilder.Build"/>'s rules and random stream; images with fewer
    /// than k objects are left out). With statistics counted on the same images this equals <see cref="PopeBuilder.Build"/>.
    /// </summary>
    public static IReadOnlyList<PopeQuestion> BuildQuestions(IReadOnlyList<PopeImageObjects> images, PopeStrategy strategy,
        PopeStatistics stats, int samplesPerImage = 3, ulong seed = 0, string template = PopeBuilder.DefaultTemplate)
    {
        if (samplesPerImage <= 0) throw new ArgumentOutOfRangeException(nameof(samplesPerImage), samplesPerImage, "must be positive");
        var used = images
            .Select(im => (im.Image, Objects: im.Objects.Distinct(StringComparer.Ordinal).ToArray()))
            .Where(im => im.Objects.Length > 0 && im.Objects.Length >= samplesPerImage)
            .ToArray();
        return PopeBuilder.BuildWith(used, strategy, stats.Categories, stats.Popular, stats.CoOccurring, samplesPerImage, seed, template);
    }

    /// <summary>
    /// Renders the held-out set into <paramref name="outDir"/> and writes the three question files;
    /// negatives come from statistics over <paramref name="trainObjects"/> (the world's training split),
    /// extended with every shape class. Same options and inputs give byte-identical files.
    /// </summary>
    public static WorldPopeResult Make(string outDir, WorldPopeOptions options, IReadOnlyList<PopeImageObjects> trainObjects,
        IReadOnlySet<string>? exclude = null)
    {
        var scenes = SampleScenes(options, exclude);
        int size = options.ImageSize;
        string imageDir = Path.Combine(outDir, ImageFolder);
        var images = new List<CocoImage>();
        var anns = new List<CocoAnnotation>();
        var sceneOf = new Dictionary<string, Scene>(StringComparer.Ordinal);
        for (int i = 0; i < scenes.Count; i++)
        {
            string name = ImageName(i);
            sceneOf[name] = scenes[i];
            using var r = SceneRenderer.Render(scenes[i], size, withMasks: true);
            AtomicFile.WriteAllBytes(Path.Combine(imageDir, name), ImageFiles.Encode(r.Image, ".png"));
            images.Add(new CocoImage(i + 1, name, size, size));
            for (int k = 0; k < scenes[i].Objects.Count; k++)
            {
                var mask = r.Masks[k];
                int area = mask.Count(b => b != 0);
                if (area == 0) continue;
                anns.Add(new CocoAnnotation(anns.Count + 1, i + 1, Category(scenes[i].Objects[k].Shape).Id,
                    CocoSegmentation.FromRle(CocoRle.Encode(mask, size, size), compressed: true), WorldWriter.Bbox(mask, size), area, 0,
                    SceneText.Region(scenes[i].Objects[k])));
            }
        }
        string instances = Path.Combine(outDir, InstancesFile);
        Coco.Write(instances, new CocoDataset(images, anns, WorldVocabulary.Shapes.Select(Category).ToList()));

        var objects = ObjectsFromCoco(instances);
        var stats = Statistics(trainObjects, WorldVocabulary.Shapes.Select(WorldVocabulary.Name));
        var files = new Dictionary<PopeStrategy, string>();
        var questions = new Dictionary<PopeStrategy, IReadOnlyList<PopeQuestion>>();
        foreach (var strategy in Enum.GetValues<PopeStrategy>())
        {
            var qs = BuildQuestions(objects, strategy, stats, options.SamplesPerImage, (ulong)(uint)options.Seed);
            string file = Path.Combine(outDir, Pope.FileName(strategy.ToString().ToLowerInvariant()));
            PopeBuilder.Write(file, qs);
            files[strategy] = file;
            questions[strategy] = qs;
        }
        return new WorldPopeResult(imageDir, instances, files, questions, sceneOf);
    }

    /// <summary>
    /// <see cref="Make"/> for the world under <paramref name="worldRoot"/>: statistics from its training-split
    /// COCO instances (<c>coco/annotations/instances_region.json</c>), held-out scenes excluding every
    /// training-side scene of the world (options from its manifest).
    /// </summary>
    public static WorldPopeResult MakeForWorld(string worldRoot, string outDir, WorldPopeOptions options)
    {
        var train = ObjectsFromCoco(Path.Combine(worldRoot, "coco", "annotations", "instances_region.json"));
        var exclude = WorldSource.TrainKeys(WorldSource.ReadOptions(worldRoot));
        return Make(outDir, options, train, exclude);
    }
}
