using System.Text.Json;
using System.Text.Json.Nodes;

namespace Deem.Benchmarks;

/// <summary>One ImageNet class of <c>imagenet_class_index.json</c> ({"idx": [wnid, name]}).</summary>
public sealed record ImageNetClass(int Index, string Wnid, string Name);

/// <summary>How a split names its class folders.</summary>
public enum ClassFolderKind
{
    /// <summary>WordNet ids ("n01498041"), as ImageNet-A and ImageNet-R.</summary>
    Wnid,
    /// <summary>Class indices "0" … "999", as ImageNetV2.</summary>
    Index,
}

/// <summary>Where one RobustVQA split lives under the data root.</summary>
/// <param name="Split">The JSON key ("imagenet_a", …).</param>
/// <param name="Folder">The folder under the root ("imagenet-a", …).</param>
/// <param name="Kind">How its class folders are named.</param>
public sealed record RobustVqaSource(string Split, string Folder, ClassFolderKind Kind);

/// <summary>
/// Builds <c>robustvqa_test.json</c> (paper appendix E.1, fig. 5; reference §6.1, the original script
/// of commit 5cf327a): every image of ImageNet-A / ImageNet-R / ImageNetV2 is kept; a zero-shot
/// classifier scores it against all classes with the prompts "A photo of a {name}"; the negative is the
/// classifier's strongest wrong class (top-1 if wrong, else top-2, i.e. the argmax over classes ≠ truth).
/// </summary>
/// <remarks>
/// Scores are cosine similarities: image AND text features are L2-normalised. The authors' script
/// normalises only the image features, so text-embedding norms skew its ranking; we do not copy that
/// quirk (softmax(100·s) has the same order as s, so we rank by s directly). Images are taken in ordinal
/// path order, as Python's <c>sorted(glob(...))</c>; the extensions .jpg, .jpeg and .png are accepted in
/// every split. <c>file_name</c> is the path relative to the data root, with '/' separators.
/// </remarks>
public static class RobustVqaBuilder
{
    /// <summary>The three splits with the authors' folder names.</summary>
    public static readonly IReadOnlyList<RobustVqaSource> DefaultSources =
    [
        new("imagenet_a", "imagenet-a", ClassFolderKind.Wnid),
        new("imagenet_r", "imagenet-r", ClassFolderKind.Wnid),
        new("imagenet_v2", "imagenetv2", ClassFolderKind.Index),
    ];

    static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];

    /// <summary>The zero-shot prompt of a class.</summary>
    public static string Prompt(string className) => $"A photo of a {className}";

    /// <summary>Reads <c>imagenet_class_index.json</c>; indices must be 0 … N−1.</summary>
    public static IReadOnlyList<ImageNetClass> LoadClassIndex(string path)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new DeemFormatException(path, "not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new DeemFormatException(path, $"not valid JSON: {e.Message}", inner: e);
        }
        var classes = new ImageNetClass[root.Count];
        foreach (var (key, node) in root)
        {
            if (!int.TryParse(key, out int idx) || idx < 0 || idx >= classes.Length || classes[idx] is not null)
                throw new DeemFormatException(path, $"key '{key}' is not a unique index in 0..{classes.Length - 1}.", key);
            if (node is not JsonArray { Count: 2 } pair || pair[0] is not JsonValue w || !w.TryGetValue(out string? wnid)
                || pair[1] is not JsonValue n || !n.TryGetValue(out string? name))
                throw new DeemFormatException(path, $"'{key}' is not a [wnid, name] pair.", key);
            classes[idx] = new ImageNetClass(idx, wnid, name);
        }
        return classes;
    }

    /// <summary>The images of one split with their class index, in ordinal path order.</summary>
    public static IReadOnlyList<(string Path, int ClassIndex)> ListImages(string root, RobustVqaSource source, IReadOnlyList<ImageNetClass> classes)
    {
        string dir = Path.Combine(root, source.Folder);
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"RobustVQA split folder not found: {dir}");
        var byWnid = classes.ToDictionary(c => c.Wnid, c => c.Index, StringComparer.Ordinal);
        var images = new List<(string, int)>();
        foreach (string classDir in Directory.EnumerateDirectories(dir))
        {
            string folder = Path.GetFileName(classDir);
            int cls = source.Kind switch
            {
                ClassFolderKind.Wnid => byWnid.TryGetValue(folder, out int c) ? c
                    : throw new DeemFormatException(classDir, $"folder '{folder}' is not a wnid of the class index."),
                _ => int.TryParse(folder, out int c) && c >= 0 && c < classes.Count ? c
                    : throw new DeemFormatException(classDir, $"folder '{folder}' is not a class index 0..{classes.Count - 1}."),
            };
            foreach (string file in Directory.EnumerateFiles(classDir))
                if (Extensions.Contains(Path.GetExtension(file).ToLowerInvariant()))
                    images.Add((file, cls));
        }
        images.Sort((x, y) => string.CompareOrdinal(x.Item1, y.Item1));
        return images;
    }

    /// <summary>
    /// Mines the negative of each image: the class ≠ its true class with the highest cosine similarity
    /// (ties go to the lower class index). Returns the negative class index per image.
    /// </summary>
    public static int[] MineNegatives(IZeroShotClassifier classifier, IReadOnlyList<ImageNetClass> classes,
        IReadOnlyList<(string Path, int ClassIndex)> images, int batchSize = 64)
    {
        if (classes.Count < 2) throw new ArgumentException("Need at least two classes.", nameof(classes));
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be positive");
        float[][] textRaw = classifier.EncodeTexts(classes.Select(c => Prompt(c.Name)).ToArray());
        if (textRaw.Length != classes.Count)
            throw new ArgumentException($"EncodeTexts returned {textRaw.Length} vectors for {classes.Count} prompts.");
        double[][] text = textRaw.Select(Normalized).ToArray();
        int dim = text[0].Length;

        var negatives = new int[images.Count];
        for (int start = 0; start < images.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, images.Count - start);
            float[][] feats = classifier.EncodeImages(images.Skip(start).Take(n).Select(i => i.Path).ToArray());
            if (feats.Length != n) throw new ArgumentException($"EncodeImages returned {feats.Length} vectors for {n} images.");
            for (int b = 0; b < n; b++)
            {
                double[] img = Normalized(feats[b]);
                if (img.Length != dim) throw new ArgumentException($"image feature has {img.Length} values, text features have {dim}.");
                int gt = images[start + b].ClassIndex, best = -1;
                double bestScore = double.NegativeInfinity;
                for (int c = 0; c < text.Length; c++)
                {
                    if (c == gt) continue;
                    double s = 0;
                    for (int k = 0; k < dim; k++) s += img[k] * text[c][k];
                    if (s > bestScore) { bestScore = s; best = c; }
                }
                negatives[start + b] = best;
            }
        }
        return negatives;
    }

    /// <summary>
    /// Builds the benchmark entries of every source under <paramref name="root"/> and, when
    /// <paramref name="outputPath"/> is given, writes <c>robustvqa_test.json</c> there atomically.
    /// With <paramref name="replaceUnderscores"/> class names like "great_white_shark" become
    /// "great white shark" in prompts and captions (the authors keep the names as in the file).
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<RobustVqaEntry>> Build(string root, string classIndexPath,
        IZeroShotClassifier classifier, string? outputPath = null, IReadOnlyList<RobustVqaSource>? sources = null,
        int batchSize = 64, bool replaceUnderscores = false)
    {
        var classes = LoadClassIndex(classIndexPath);
        if (replaceUnderscores) classes = classes.Select(c => c with { Name = c.Name.Replace('_', ' ') }).ToArray();
        var result = new Dictionary<string, IReadOnlyList<RobustVqaEntry>>(StringComparer.Ordinal);
        foreach (var source in sources ?? DefaultSources)
        {
            var images = ListImages(root, source, classes);
            int[] neg = MineNegatives(classifier, classes, images, batchSize);
            result[source.Split] = images.Select((im, i) => new RobustVqaEntry(
                Path.GetRelativePath(root, im.Path).Replace('\\', '/'), classes[im.ClassIndex].Name, classes[neg[i]].Name)).ToArray();
        }
        if (outputPath is not null) RobustVqa.Write(outputPath, result);
        return result;
    }

    static double[] Normalized(float[] v)
    {
        double norm = Math.Sqrt(v.Sum(x => (double)x * x));
        if (norm == 0 || double.IsNaN(norm)) throw new ArgumentException("A feature vector has zero or NaN norm.");
        return v.Select(x => x / norm).ToArray();
    }
}
