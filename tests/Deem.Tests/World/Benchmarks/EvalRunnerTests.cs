using System.Globalization;
using System.Text.Json.Nodes;
using Deem.Benchmarks;
using Deem.World.Benchmarks;

namespace Deem.Tests.World.Benchmarks;

/// <summary>The three world benchmarks built once, small, for the runner tests.</summary>
public sealed class WorldBenchmarks : IDisposable
{
    readonly TinyWorld _world = new();
    readonly Scratch _dir = new();

    public WorldBenchmarks()
    {
        WorldRobustVqa.Build(_world.Root, new FolderClassifier(), Path.Combine(_dir.Path, "robustvqa_test.json"));
        Pope = WorldPope.MakeForWorld(_world.Root, Path.Combine(_dir.Path, "pope"), new WorldPopeOptions { Seed = 1, Images = 6, ImageSize = 32 });
        Mmvp = WorldMmvp.MakeForWorld(_world.Root, Path.Combine(_dir.Path, "mmvp"), new WorldMmvpOptions { Seed = 1, Pairs = 5, ImageSize = 32 });
        Paths = new BenchmarkPaths(Path.Combine(_dir.Path, "robustvqa_test.json"), WorldRobustVqa.RobustRoot(_world.Root),
            Path.Combine(_dir.Path, "pope"), Pope.ImageDir, Path.Combine(_dir.Path, "mmvp"));
    }

    public WorldPopeResult Pope { get; }
    public IReadOnlyList<WorldMmvpPair> Mmvp { get; }
    public BenchmarkPaths Paths { get; }
    public int Questions => 6 * Deem.World.WorldOptions.Tiny.Counts.TestImagesPerSplit + 2 * Deem.World.WorldOptions.Tiny.TestImagesInDistribution + Pope.Questions.Values.Sum(q => q.Count) + 2 * Mmvp.Count;
    public SceneOracle Oracle() => new(Pope, Mmvp);

    public void Dispose() { _dir.Dispose(); _world.Dispose(); }
}

public class EvalRunnerTests : IClassFixture<WorldBenchmarks>
{
    readonly WorldBenchmarks _b;
    public EvalRunnerTests(WorldBenchmarks b) => _b = b;

    static readonly string[] Outputs =
    [
        RobustVqaRunner.PredictionsFile, RobustVqaRunner.ScoresFileName, PopeRunner.PredictionsFile("random"), PopeRunner.PredictionsFile("popular"),
        PopeRunner.PredictionsFile("adversarial"), PopeRunner.ScoresFileName, MmvpRunner.PredictionsFile, MmvpRunner.ScoresFileName,
        BenchmarkSuite.ScoresFileName, BenchmarkSuite.MarkdownFileName,
    ];

    [Theory]
    [InlineData(1)]    // inside RobustVQA
    [InlineData(100)]  // inside POPE
    [InlineData(-3)]   // inside MMVP (3 before the end)
    public void AKilledRunResumesWithOnlyTheRestAndEndsLikeAStraightRun(int killAfter)
    {
        using var straight = new Scratch();
        using var resumed = new Scratch();
        var full = _b.Oracle();
        var expected = BenchmarkSuite.Run(full, _b.Paths, straight.Path);
        Assert.Equal(_b.Questions, full.Calls);

        int k = killAfter > 0 ? killAfter : _b.Questions + killAfter;
        Assert.Throws<OperationCanceledException>(() => BenchmarkSuite.Run(new Crashing(_b.Oracle(), k), _b.Paths, resumed.Path));
        var second = _b.Oracle();
        var result = BenchmarkSuite.Run(second, _b.Paths, resumed.Path);
        Assert.Equal(_b.Questions - k, second.Calls);
        int computed = result.RobustVqa!.Computed + result.Pope!.Computed + result.Mmvp!.Computed;
        Assert.Equal(_b.Questions - k, computed);

        Assert.Equal(expected.Metrics, result.Metrics);
        foreach (string f in Outputs) Assert.Equal(File.ReadAllText(straight[f]), File.ReadAllText(resumed[f]));

        var third = _b.Oracle(); // nothing left to do
        BenchmarkSuite.Run(third, _b.Paths, resumed.Path);
        Assert.Equal(0, third.Calls);
    }

    [Fact]
    public void BatchedModelsGetBatchesAndACrashLosesOnlyTheOpenBatch()
    {
        using var d = new Scratch();
        var items = RobustVqaRunner.Items(_b.Paths.RobustVqaJson!, _b.Paths.RobustVqaImageRoot!);
        var batched = new Batched(new Crashing(_b.Oracle(), 23));
        Assert.Throws<OperationCanceledException>(() => PredictionRunner.Run(batched, items, d["p.jsonl"], new EvalOptions { BatchSize = 10 }));
        Assert.Equal([10, 10, 10], batched.Batches);
        Assert.Equal(20, PredictionLog.ReadAll(d["p.jsonl"]).Count); // the third batch was never written
        var again = new Batched(_b.Oracle());
        var answered = PredictionRunner.Run(again, items, d["p.jsonl"], new EvalOptions { BatchSize = 10 });
        Assert.Equal(items.Count - 20, answered.Computed);
        Assert.Equal(Enumerable.Repeat(10, (items.Count - 20) / 10).Append((items.Count - 20) % 10).Where(n => n > 0), again.Batches);
        Assert.Equal(items.Select(i => i.Label), answered.Answers.Select(a => a.ToLowerInvariant()));
    }

    [Fact]
    public void ATornLastLineIsRedone()
    {
        using var d = new Scratch();
        var questions = Deem.Benchmarks.Mmvp.Load(_b.Paths.MmvpDir!);
        var items = MmvpRunner.Items(questions);
        bool Judge(EvalItem item, string answer) => Deem.Benchmarks.Mmvp.IsCorrect(questions.Single(q => q.Index.ToString() == item.Id), answer);
        Assert.Throws<OperationCanceledException>(() => PredictionRunner.Run(new Crashing(_b.Oracle(), 4), items, d["p.jsonl"], judge: Judge));
        File.AppendAllText(d["p.jsonl"], "{\"image\":\"MMVP Images/5.jpg\",\"pro");
        var oracle = _b.Oracle();
        var answered = PredictionRunner.Run(oracle, items, d["p.jsonl"], judge: Judge);
        Assert.Equal(items.Count - 4, oracle.Calls);
        Assert.Equal(items.Count, File.ReadAllLines(d["p.jsonl"]).Length);
        Assert.All(PredictionLog.ReadAll(d["p.jsonl"]), r => Assert.True((bool)r["correct"]!));
        Assert.Equal(items.Count, answered.Answers.Count);
    }

    [Fact]
    public void PredictionsOfAnotherBenchmarkAreRefused()
    {
        using var d = new Scratch();
        var items = MmvpRunner.Items(Deem.Benchmarks.Mmvp.Load(_b.Paths.MmvpDir!));
        PredictionRunner.Run(new AlwaysFirstOption(), items.Take(3).ToList(), d["p.jsonl"]);
        var changed = items.Select(i => i with { Prompt = i.Prompt + " Please answer." }).ToList();
        Assert.Throws<DeemFormatException>(() => PredictionRunner.Run(new AlwaysFirstOption(), changed, d["p.jsonl"]));
        var others = items.Skip(3).ToList();
        Assert.Throws<DeemFormatException>(() => PredictionRunner.Run(new AlwaysFirstOption(), others, d["p.jsonl"]));
        Assert.Throws<ArgumentException>(() => PredictionRunner.Run(new AlwaysFirstOption(), [items[0], items[0]], d["q.jsonl"]));
    }

    [Fact]
    public void PromptsAreTheReferences()
    {
        var robust = RobustVqaRunner.Items(_b.Paths.RobustVqaJson!, _b.Paths.RobustVqaImageRoot!);
        Assert.All(robust, i => Assert.Matches("^Is [a-z_]+ the main object in this image\\? Please anwser yes or no$", i.Prompt));
        Assert.All(robust, i => Assert.Null(i.Options));
        var pope = PopeRunner.Items(Pope.Load(Path.Combine(_b.Paths.PopeDir!, "coco_pope_random.json")), _b.Paths.PopeImageDir!);
        Assert.All(pope, i => Assert.Matches("^Is there an? [a-z-]+ in the image\\? Please anwser yes or no$", i.Prompt));
        var mmvp = MmvpRunner.Items(Deem.Benchmarks.Mmvp.Load(_b.Paths.MmvpDir!));
        Assert.All(mmvp, i => Assert.Equal(i.Prompt, i.Prompt[..^(i.Options!.Length + 1)] + " " + i.Options));
        Assert.All(mmvp, i => Assert.Matches("^[a-z ]+\\? \\(a\\) [a-z ]+ \\(b\\) [a-z ]+$", i.Prompt));
    }

    [Fact]
    public void SuiteScoresAndMarkdown()
    {
        using var d = new Scratch();
        var yes = BenchmarkSuite.Run(new AlwaysYes(), _b.Paths, d["yes"], modelName: "yes-man");
        var m = yes.Metrics;
        Assert.Equal(BenchmarkSuiteResult.Columns, m.Keys);
        foreach (string c in new[] { "RVQA-A", "RVQA-R", "RVQA-V", "POPE-R", "POPE-P", "POPE-A" }) Assert.Equal(50.0, m[c], 12);
        Assert.Equal(0.0, m["MMVP"]); // "Yes" names no option
        Assert.Equal(300.0 / 7, m["AVG"], 12);
        Assert.All(yes.Pope!.Splits, s => Assert.Equal(1.0, s.Official.YesRatio));

        var oracle = BenchmarkSuite.Run(_b.Oracle(), _b.Paths, d["oracle"], modelName: "oracle");
        Assert.All(oracle.Metrics.Values, v => Assert.Equal(100.0, v, 12));

        string md = BenchmarkSuiteResult.MarkdownTable([("yes-man", yes), ("oracle", oracle)]);
        var lines = md.TrimEnd('\n').Split('\n');
        Assert.Equal("| model | RVQA-A | RVQA-R | RVQA-V | POPE-R | POPE-P | POPE-A | MMVP | AVG |", lines[0]);
        Assert.Equal("| yes-man | 50.00 | 50.00 | 50.00 | 50.00 | 50.00 | 50.00 | 0.00 | 42.86 |", lines[2]);
        Assert.Equal("| oracle | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 |", lines[3]);
        var random = yes.Pope["random"]!;
        var (lo, hi) = Stats.Wilson(0.5, random.Questions);                    // the run's own sampling error over the split's questions
        Assert.Contains(string.Create(CultureInfo.InvariantCulture,
            $"| random | {random.Questions} | 50.00 | 50.00 | {100 * lo:F2}–{100 * hi:F2} | 50.00 | 100.00 | 66.67 | 100.00 |"), yes.ToMarkdown());
        var (mlo, mhi) = Stats.Wilson(0, yes.Mmvp!.Scores.Pairs);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture,
            $"MMVP: 0 of {yes.Mmvp.Scores.Pairs} pairs, 0.00 % (95 %, Wilson: {100 * mlo:F2}–{100 * mhi:F2}; a blind guesser: 25)."), yes.ToMarkdown());
        Assert.Contains("| imagenet_id | 50.00 |", yes.ToMarkdown());              // the world's held-out split, beside A/R/V
        Assert.Contains("| imagenet_id | 100.00 |", oracle.ToMarkdown());
        Assert.Equal(yes.ToMarkdown("yes-man"), File.ReadAllText(Path.Combine(d["yes"], BenchmarkSuite.MarkdownFileName)));
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(d["yes"], BenchmarkSuite.ScoresFileName)))!;
        Assert.Equal(50.0, (double)json["POPE-A"]!);

        string seeds = BenchmarkSuiteResult.MarkdownSeedTable([("mixed", [yes, oracle])]);
        // two seeds: mean 75, s = 35.355, half-width = 12.706 · 35.355 / √2 = 317.65
        Assert.Contains("| mixed | 75.00 ± 317.65 |", seeds);
    }

    [Fact]
    public void OnlyTheBenchmarksGivenRun()
    {
        using var d = new Scratch();
        var r = BenchmarkSuite.Run(new AlwaysFirstOption(), new BenchmarkPaths(MmvpDir: _b.Paths.MmvpDir), d.Path);
        Assert.Null(r.RobustVqa);
        Assert.Null(r.Pope);
        Assert.Equal(["MMVP"], r.Metrics.Keys);
        Assert.Equal("| model | MMVP |", r.ToMarkdown().Split('\n')[0]);
        Assert.Throws<DeemConfigException>(() => BenchmarkSuite.Run(new AlwaysYes(), new BenchmarkPaths(), d.Path));
        Assert.Throws<DeemConfigException>(() => BenchmarkSuite.Run(new AlwaysYes(), new BenchmarkPaths(PopeDir: _b.Paths.PopeDir), d.Path));
    }
}
