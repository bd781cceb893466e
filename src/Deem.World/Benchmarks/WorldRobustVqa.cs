using Deem.Benchmarks;
using Deem.World;

namespace Deem.World.Benchmarks;

/// <summary>
/// RobustVQA on the procedural world (paper appendix E.1, reference §6.1): the world's A / R / V test
/// splits are written as ImageNet-style class folders <c>robust/imagenet_{a,r,v2}/{wnid}/…</c> with
/// <c>robust/imagenet_class_index.json</c> (<see cref="WorldWriter"/>); this mines each image's negative
/// with a zero-shot classifier exactly as for the real data (<see cref="RobustVqaBuilder"/>: prompts
/// "A photo of a {name}", negative = the classifier's strongest wrong class) and writes
/// <c>robustvqa_test.json</c> in the real layout, <c>file_name</c> relative to the <c>robust</c> folder.
/// </summary>
/// <remarks>
/// Unlike ImageNetV2 (folders "0" … "999"), the world's V split uses wnid folders like A and R.
/// Class names are kept as in the index ("l_shape"), as the authors keep the Keras names, and as the
/// world's own rule-mined <c>robust/robustvqa_test.json</c> does, so both files ask the same words.
/// </remarks>
public static class WorldRobustVqa
{
    /// <summary>The benchmark file name of the real layout.</summary>
    public const string FileName = "robustvqa_test.json";

    /// <summary>The world's splits A, R, V and the held-out in-distribution one: JSON key = folder name, wnid class folders.</summary>
    public static readonly IReadOnlyList<RobustVqaSource> Sources =
    [
        new("imagenet_a", "imagenet_a", ClassFolderKind.Wnid),
        new("imagenet_r", "imagenet_r", ClassFolderKind.Wnid),
        new("imagenet_v2", "imagenet_v2", ClassFolderKind.Wnid),
        new(WorldWriter.InDistributionFolder, WorldWriter.InDistributionFolder, ClassFolderKind.Wnid),
    ];

    /// <summary>The <c>robust</c> folder of a world written by <see cref="WorldWriter.Make"/>.</summary>
    public static string RobustRoot(string worldRoot) => Path.Combine(worldRoot, "robust");

    /// <summary>
    /// Mines negatives with <paramref name="classifier"/> over the world under <paramref name="worldRoot"/>
    /// and writes the benchmark to <paramref name="outputPath"/> (for instance
    /// <c>{outDir}/robustvqa_test.json</c>; writing it over the world's <c>robust/robustvqa_test.json</c>
    /// replaces the rule-mined negatives but leaves that file's manifest hash stale). The image root of
    /// the result is <see cref="RobustRoot"/>.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<RobustVqaEntry>> Build(string worldRoot, IZeroShotClassifier classifier,
        string outputPath, int batchSize = 64)
    {
        string root = RobustRoot(worldRoot);
        string index = Path.Combine(root, "imagenet_class_index.json");
        if (!File.Exists(index)) throw new DeemFormatException(index, "class index not found; is this a world folder?");
        // Worlds written before the in-distribution split have no imagenet_id folder.
        var sources = Sources.Where(x => Directory.Exists(Path.Combine(root, x.Folder))).ToList();
        return RobustVqaBuilder.Build(root, index, classifier, outputPath, sources, batchSize);
    }
}
