using System.Text.Json.Nodes;
using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

public sealed class RobustVqaTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "deem-rvqa-" + Guid.NewGuid().ToString("N"));

    public RobustVqaTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    /// <summary>Features looked up by image file name and by prompt; records the image batch sizes.</summary>
    sealed class FakeClassifier(Dictionary<string, float[]> images, Dictionary<string, float[]> texts) : IZeroShotClassifier
    {
        public List<int> Batches { get; } = [];

        public float[][] EncodeImages(IReadOnlyList<string> imagePaths)
        {
            Batches.Add(imagePaths.Count);
            return imagePaths.Select(p => images[Path.GetFileName(p)]).ToArray();
        }

        public float[][] EncodeTexts(IReadOnlyList<string> prompts) => prompts.Select(p => texts[p]).ToArray();
    }

    // Text features: class 2 has norm 10, the others norm 1.
    //   t0 = (1, 0, 0)   t1 = (0.6, 0.8, 0)   t2 = (5, 0, 8.66)   t3 = (0, 0, 1)
    static readonly Dictionary<string, float[]> Texts = new()
    {
        ["A photo of a tench"] = [1f, 0f, 0f],
        ["A photo of a goldfish"] = [0.6f, 0.8f, 0f],
        ["A photo of a great_white_shark"] = [5f, 0f, 8.66f],
        ["A photo of a tiger_shark"] = [0f, 0f, 1f],
    };

    static readonly Dictionary<string, float[]> Images = new()
    {
        // A, true class 0, x = (1,0,0): cos = 1, 0.6, 0.5, 0 → right → negative = runner-up 1 (goldfish).
        // Unnormalised text dots = 1, 0.6, 5, 0 → the authors' ranking would pick class 2 instead.
        ["x.jpg"] = [1f, 0f, 0f],
        // A, true class 3, y = 3·(0.8,0.6,0): cos = 0.8, 0.96, 0.4, 0 → top-1 = 1 (wrong) → negative 1.
        ["y.jpeg"] = [2.4f, 1.8f, 0f],
        // R, true class 1, w = (0.6,0.8,0): cos = 0.6, 1, 0.3, 0 → negative = 0 (tench).
        ["w.png"] = [0.6f, 0.8f, 0f],
        // V2, true class 2, z = (0,0,1): cos = 0, 0, 0.866, 1 → top-1 = 3 (wrong) → negative 3.
        ["z.jpeg"] = [0f, 0f, 1f],
    };

    void Touch(params string[] parts)
    {
        string path = Path.Combine([_root, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, []);
    }

    string WriteClassIndex()
    {
        string path = Path.Combine(_root, "imagenet_class_index.json");
        File.WriteAllText(path, """
            {"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"],
             "2": ["n01484850", "great_white_shark"], "3": ["n01491361", "tiger_shark"]}
            """);
        return path;
    }

    [Fact]
    public void MiningPicksTheStrongestWrongClassByCosine()
    {
        Touch("imagenet-a", "n01440764", "x.jpg");
        Touch("imagenet-a", "n01491361", "y.jpeg");
        Touch("imagenet-a", "n01491361", "notes.txt");         // not an image: ignored
        Touch("imagenet-r", "n01443537", "w.png");
        Touch("imagenetv2", "2", "z.jpeg");
        var fake = new FakeClassifier(Images, Texts);
        string output = Path.Combine(_root, "robustvqa_test.json");

        var set = RobustVqaBuilder.Build(_root, WriteClassIndex(), fake, output, batchSize: 1);

        Assert.Equal([new RobustVqaEntry("imagenet-a/n01440764/x.jpg", "tench", "goldfish"),
                      new RobustVqaEntry("imagenet-a/n01491361/y.jpeg", "tiger_shark", "goldfish")], set["imagenet_a"]);
        Assert.Equal([new RobustVqaEntry("imagenet-r/n01443537/w.png", "goldfish", "tench")], set["imagenet_r"]);
        Assert.Equal([new RobustVqaEntry("imagenetv2/2/z.jpeg", "great_white_shark", "tiger_shark")], set["imagenet_v2"]);
        Assert.Equal([1, 1, 1, 1], fake.Batches);

        // The authors' unnormalised text features would have chosen another negative for x.jpg.
        float[] x = Images["x.jpg"];
        var rawDots = Texts.Values.Select(t => t.Zip(x, (a, b) => a * b).Sum()).ToArray();
        int authorsPick = Enumerable.Range(1, 3).MaxBy(c => rawDots[c]);
        Assert.Equal(2, authorsPick);                               // great_white_shark ≠ goldfish

        // written file: the three keys with the authors' field names, and it loads back equal
        var json = JsonNode.Parse(File.ReadAllText(output))!.AsObject();
        Assert.Equal(["imagenet_a", "imagenet_r", "imagenet_v2"], json.Select(kv => kv.Key));
        Assert.Equal("goldfish", (string)json["imagenet_a"]![0]!["error_caption"]!);
        var loaded = RobustVqa.Load(output);
        Assert.Equal(set["imagenet_a"], loaded["imagenet_a"]);
    }

    [Fact]
    public void BatchesAreSplitBySizeAndNamesCanLoseUnderscores()
    {
        foreach (string f in new[] { "a.jpg", "b.jpg", "c.jpg" }) Touch("imagenetv2", "2", f);
        var images = new Dictionary<string, float[]> { ["a.jpg"] = [0f, 0f, 1f], ["b.jpg"] = [0f, 0f, 1f], ["c.jpg"] = [1f, 0f, 0f] };
        var texts = Texts.ToDictionary(kv => kv.Key.Replace('_', ' '), kv => kv.Value);
        var fake = new FakeClassifier(images, texts);
        var sources = new[] { new RobustVqaSource("imagenet_v2", "imagenetv2", ClassFolderKind.Index) };
        var set = RobustVqaBuilder.Build(_root, WriteClassIndex(), fake, sources: sources, batchSize: 2, replaceUnderscores: true);
        Assert.Equal([2, 1], fake.Batches);
        // c = (1,0,0), true class 2: cos = 1, 0.6, ·, 0 → tench
        Assert.Equal(["tiger shark", "tiger shark", "tench"], set["imagenet_v2"].Select(e => e.ErrorCaption));
        Assert.All(set["imagenet_v2"], e => Assert.Equal("great white shark", e.GtCaption));
    }

    [Fact]
    public void UnknownClassFoldersAreFormatErrors()
    {
        Touch("imagenet-a", "n99999999", "x.jpg");
        var fake = new FakeClassifier(Images, Texts);
        var sources = new[] { RobustVqaBuilder.DefaultSources[0] };
        Assert.Throws<DeemFormatException>(() => RobustVqaBuilder.Build(_root, WriteClassIndex(), fake, sources: sources));
    }

    static IReadOnlyDictionary<string, IReadOnlyList<RobustVqaEntry>> Set() => new Dictionary<string, IReadOnlyList<RobustVqaEntry>>
    {
        ["imagenet_a"] = [new("a/1.jpg", "tench", "goldfish"), new("a/2.jpg", "tiger_shark", "goldfish")],
        ["imagenet_r"] = [new("r/1.jpg", "goldfish", "tench")],
        ["imagenet_v2"] = [new("v/1.jpg", "great_white_shark", "tiger_shark")],
    };

    [Fact]
    public void QuestionsComeInYesNoPairsShuffledDeterministically()
    {
        var q1 = RobustVqa.Questions(Set());
        var q2 = RobustVqa.Questions(Set());
        Assert.Equal(q1, q2);
        Assert.Equal(8, q1.Count);
        Assert.Contains(new RobustVqaQuestion("imagenet_a", "a/1.jpg", "Is tench the main object in this image? Please anwser yes or no", "yes"), q1);
        Assert.Contains(new RobustVqaQuestion("imagenet_a", "a/1.jpg", "Is goldfish the main object in this image? Please anwser yes or no", "no"), q1);
        Assert.Equal(["imagenet_a", "imagenet_a", "imagenet_a", "imagenet_a", "imagenet_r", "imagenet_r", "imagenet_v2", "imagenet_v2"],
            q1.Select(q => q.Split));
        Assert.Equal(q1.Count(q => q.Answer == "yes"), q1.Count(q => q.Answer == "no"));
        // the seed changes the order of the 4 imagenet_a questions for some seed in a handful
        var orders = Enumerable.Range(0, 8).Select(s => string.Join("|", RobustVqa.Questions(Set(), (ulong)s).Take(4).Select(q => q.Question + q.Answer)));
        Assert.True(orders.Distinct().Count() > 1);
    }

    [Fact]
    public void ScoresPerSplitAndOverall()
    {
        var qs = RobustVqa.Questions(Set());
        // answer every "yes" question right ("Yes, it is."), and every "no" question with "Yes" (wrong),
        // except imagenet_r where the "no" question gets "No."
        var answers = qs.Select(q => q.Answer == "yes" ? "Yes, it is." : q.Split == "imagenet_r" ? "No." : "Yes").ToArray();
        var s = RobustVqa.Score(qs, answers);
        Assert.Equal(50.0, s.PerSplit["imagenet_a"], 12);   // 2 of 4
        Assert.Equal(100.0, s.PerSplit["imagenet_r"], 12);  // 2 of 2
        Assert.Equal(50.0, s.PerSplit["imagenet_v2"], 12);  // 1 of 2
        Assert.Equal(62.5, s.Overall, 12);                  // 5 of 8
    }
}
