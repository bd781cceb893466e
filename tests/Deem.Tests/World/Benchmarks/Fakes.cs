using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Deem.Benchmarks;
using Deem.World.Benchmarks;
using Deem.Data.Formats;
using Deem.World;
using static Deem.World.WorldVocabulary;

namespace Deem.Tests.World.Benchmarks;

/// <summary>A fresh temp folder deleted on dispose.</summary>
public sealed class Scratch : IDisposable
{
    public Scratch() { Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "deem-wb-" + Guid.NewGuid().ToString("N")); Directory.CreateDirectory(Path); }
    public string Path { get; }
    public string this[string rel] => System.IO.Path.Combine(Path, rel);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }

    /// <summary>Relative path → SHA-256 of every file below <paramref name="root"/>.</summary>
    public static SortedDictionary<string, string> Hashes(string root) =>
        new(Directory.GetFiles(root, "*", SearchOption.AllDirectories)
            .ToDictionary(f => System.IO.Path.GetRelativePath(root, f).Replace('\\', '/'), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))),
            StringComparer.Ordinal);
}

/// <summary>A tiny world written once for all tests of a class.</summary>
public sealed class TinyWorld : IDisposable
{
    readonly Scratch _dir = new();
    public TinyWorld() { Manifest = WorldWriter.Make(_dir.Path, WorldOptions.Tiny); }
    public string Root => _dir.Path;
    public WorldManifest Manifest { get; }
    public void Dispose() => _dir.Dispose();
}

/// <summary>Says "Yes" to everything.</summary>
public sealed class AlwaysYes : IVqaModel
{
    public int Calls;
    public string Answer(string imagePath, string question, string? options) { Calls++; return "Yes"; }
}

/// <summary>Answers "(a)" to everything: it never looks at the image.</summary>
public sealed class AlwaysFirstOption : IVqaModel
{
    public string Answer(string imagePath, string question, string? options) => "(a)";
}

/// <summary>
/// Answers from the ground truth: the class of RobustVQA's class folder, the objects of POPE's
/// held-out scenes, the attributes of MMVP's scenes — so it also checks that the written questions
/// and labels agree with the scenes.
/// </summary>
public sealed partial class SceneOracle : IVqaModel
{
    readonly Dictionary<string, Scene> _popeScenes = new(StringComparer.Ordinal);
    readonly Dictionary<int, Scene> _mmvpScenes = [];
    public int Calls;

    public SceneOracle(WorldPopeResult? pope = null, IReadOnlyList<WorldMmvpPair>? mmvp = null)
    {
        if (pope is not null) foreach (var (name, s) in pope.Scenes) _popeScenes[name] = s;
        foreach (var p in mmvp ?? []) { _mmvpScenes[2 * p.Pair + 1] = p.First; _mmvpScenes[2 * p.Pair + 2] = p.Second; }
    }

    public string Answer(string imagePath, string question, string? options)
    {
        Calls++;
        Assert.True(File.Exists(imagePath), $"image {imagePath} does not exist");
        if (RobustQ().Match(question) is { Success: true } r)
        {
            string wnid = Path.GetFileName(Path.GetDirectoryName(imagePath))!;
            var cls = Shapes.Single(s => WorldWriter.Wnid((int)s) == wnid);
            return ClassName(cls) == r.Groups[1].Value ? "Yes" : "No";
        }
        if (PopeQ().Match(question) is { Success: true } p)
        {
            var scene = _popeScenes[Path.GetFileName(imagePath)];
            return scene.Objects.Any(o => Name(o.Shape) == p.Groups[1].Value) ? "Yes, there is." : "No, there is not.";
        }
        Assert.NotNull(options);
        var mmvpScene = _mmvpScenes[int.Parse(Path.GetFileNameWithoutExtension(imagePath))];
        string truth = MmvpTruth(mmvpScene, question[..^(options!.Length + 1)]);
        var opt = Mmvp.ParseOptions(options).Single(o => o.Text == truth);
        return $"({opt.Letter}) {opt.Text}";
    }

    /// <summary>The answer to a world MMVP question read off the scene record.</summary>
    public static string MmvpTruth(Scene scene, string question)
    {
        Match m;
        if ((m = Regex.Match(question, "^which way does the (.+) point\\?$")).Success)
            return Word(scene.Objects.Single(o => Name(o.Shape) == m.Groups[1].Value).Orientation);
        if ((m = Regex.Match(question, "^how many (.+) are there\\?$")).Success)
            return NumberWords[scene.Objects.Count(o => Plural(o.Shape) == m.Groups[1].Value)];
        if ((m = Regex.Match(question, "^what colour is the (.+)\\?$")).Success)
            return scene.Objects.Single(o => Name(o.Shape) == m.Groups[1].Value).Colour;
        if ((m = Regex.Match(question, "^where is the (.+)\\?$")).Success)
            return CellWords[scene.Objects.Single(o => Name(o.Shape) == m.Groups[1].Value).Cell];
        if ((m = Regex.Match(question, "^what shape is in the (.+)\\?$")).Success)
            return Name(scene.Objects.Single(o => CellWords[o.Cell] == m.Groups[1].Value).Shape);
        throw new InvalidOperationException($"unknown question '{question}'");
    }

    [GeneratedRegex("^Is (.+) the main object in this image\\? Please anwser yes or no$")]
    private static partial Regex RobustQ();

    [GeneratedRegex("^Is there an? (.+) in the image\\? Please anwser yes or no$")]
    private static partial Regex PopeQ();
}

/// <summary>Passes requests to an inner model and throws after <see cref="Limit"/> answers (a killed run).</summary>
public sealed class Crashing(IVqaModel inner, int limit) : IVqaModel
{
    public int Limit => limit;
    int _answered;
    public string Answer(string imagePath, string question, string? options)
    {
        if (_answered == limit) throw new OperationCanceledException("killed");
        _answered++;
        return inner.Answer(imagePath, question, options);
    }
}

/// <summary>A batched wrapper that records the batch sizes it was called with.</summary>
public sealed class Batched(IVqaModel inner) : IBatchedVqaModel
{
    public List<int> Batches { get; } = [];
    public string Answer(string imagePath, string question, string? options) { Batches.Add(1); return inner.Answer(imagePath, question, options); }
    public IReadOnlyList<string> AnswerBatch(IReadOnlyList<VqaRequest> requests)
    {
        Batches.Add(requests.Count);
        return requests.Select(r => inner.Answer(r.ImagePath, r.Question, r.Options)).ToList();
    }
}

/// <summary>
/// A zero-shot classifier for building RobustVQA in tests: it reads each image (so the builder must pass
/// real, decodable files), takes its class from the wnid folder, and scores the class after it in the index
/// as the strongest wrong class (one-hot truth + 0.5 · one-hot of class (i + 1) mod N); texts are one-hot.
/// </summary>
public sealed class FolderClassifier : IZeroShotClassifier
{
    readonly int _n = Shapes.Length;
    public int ImageCalls;

    public float[][] EncodeImages(IReadOnlyList<string> imagePaths)
    {
        ImageCalls++;
        return imagePaths.Select(p =>
        {
            using (var bmp = ImageFiles.Decode(p)) Assert.True(bmp.Width > 0);
            string wnid = Path.GetFileName(Path.GetDirectoryName(p))!;
            int i = Array.FindIndex(Shapes, s => WorldWriter.Wnid((int)s) == wnid);
            Assert.True(i >= 0, $"{p} is not in a class folder");
            var v = new float[_n];
            v[i] = 1f;
            v[(i + 1) % _n] = 0.5f;
            return v;
        }).ToArray();
    }

    public float[][] EncodeTexts(IReadOnlyList<string> prompts) =>
        prompts.Select(p =>
        {
            int i = Array.FindIndex(Shapes, s => RobustVqaBuilder.Prompt(ClassName(s)) == p);
            Assert.True(i >= 0, $"unknown prompt '{p}'");
            var v = new float[_n];
            v[i] = 1f;
            return v;
        }).ToArray();
}
