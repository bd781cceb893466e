using Deem.Benchmarks;
using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Model;
using Deem.Training;
using Deem.World.Benchmarks;
using Deem.World.Experiments;

namespace Deem.Tests.World.Experiments;

public class RunFoldersTests
{
    /// <summary>An eval folder as <c>deem eval run --bench</c> writes it (the fields the report reads).</summary>
    static string EvalFolder(string root, string name, double pope, double yesRandom, double yesOther, bool breakdown)
    {
        string dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "suite_scores.json"),
            $$$"""{"model":"step-0012000","RVQA-A":50,"RVQA-R":60,"RVQA-V":70,"POPE-R":{{{pope}}},"POPE-P":{{{pope}}},"POPE-A":{{{pope}}},"MMVP":10,"AVG":55,"unit":"percent"}""");
        File.WriteAllText(Path.Combine(dir, "pope_scores.json"),
            $$$"""{"random":{"accuracy":{{{pope}}},"yes_ratio":{{{yesRandom}}}},"popular":{"accuracy":{{{pope}}},"yes_ratio":{{{yesOther}}}},"adversarial":{"accuracy":{{{pope}}},"yes_ratio":{{{yesOther}}}}}""");
        if (breakdown)
            File.WriteAllText(Path.Combine(dir, WorldBreakdown.FileName), """{"RVQA-ID":80,"RVQA-OOD":60,"MMVP seen":25,"MMVP unseen":0}""");
        return dir;
    }

    [Fact]
    public void AnArmIsReadFromItsEvalFoldersAndReportedWithoutACostSection()
    {
        using var tmp = new TempDir();
        string a0 = EvalFolder(tmp.Path, "a0", 60, 40, 55, breakdown: true), a1 = EvalFolder(tmp.Path, "a1", 70, 50, 50, breakdown: true);
        string b0 = EvalFolder(tmp.Path, "b0", 50, 100, 100, breakdown: false), b1 = EvalFolder(tmp.Path, "b1", 50, 0, 0, breakdown: false);

        var deem = RunFolders.ParseArm($"DEEM={a0},{a1}");
        Assert.Equal("DEEM", deem.Name);
        Assert.Equal([0, 1], deem.Runs.Select(r => r.Seed));                    // numbered in order without training folders
        var m = deem.Runs[0].Metrics;
        Assert.Equal(60.0, m["POPE-R"]);
        Assert.Equal(50.0, m[CsrExperimentReport.YesRatioColumn]);               // (40 + 55 + 55) / 3
        Assert.Equal(80.0, m[WorldBreakdown.InDistribution]);
        Assert.Equal(55.0, m["AVG"]);
        Assert.False(m.ContainsKey("unit"));
        Assert.False(m.ContainsKey(CsrExperimentReport.ImageGapColumn));
        Assert.True(double.IsNaN(deem.Runs[0].SecondsPerStep));

        var baseline = RunFolders.ParseArm($"baseline = {b0} , {b1}");
        Assert.False(baseline.Runs[0].Metrics.ContainsKey(WorldBreakdown.InDistribution));

        var md = CsrExperimentReport.Markdown([deem, baseline], [("DEEM", "baseline")], "by hand");
        Assert.Contains("| DEEM | 2 | 50.00 ± 0.00 | 60.00 ± 0.00 | 70.00 ± 0.00 | 65.00 ± 63.53", md);   // 65 ± 12.706·7.07/√2
        Assert.Contains("| DEEM − baseline | POPE | +15.00 |", md);
        Assert.Contains("| DEEM | 0 | 50.00 | 60.00 | 70.00 | 60.00 | 60.00 | 60.00 | 10.00 | 55.00 | 50.00 | – | – | – |", md);
        Assert.DoesNotContain("Training cost", md);                              // hand-made runs carry no comparable step times
    }

    static ExperimentArm Arm(string name, string arch) => new(name, arch, false, []);

    [Fact]
    public void ComparisonsAreTheGivenPairsInOrderOrElseTheFirstTwoArms()
    {
        ExperimentArm[] arms = [Arm("DEEM", "deem"), Arm("baseline", "deem"), Arm("LLaVA+CSR", "llava"), Arm("LLaVA", "llava")];
        Assert.Equal([("DEEM", "baseline"), ("LLaVA+CSR", "LLaVA")], RunFolders.ParseComparisons(["DEEM:baseline", " LLaVA+CSR : LLaVA "], arms));
        Assert.Equal([("LLaVA+CSR", "LLaVA")], RunFolders.ParseComparisons(["LLaVA+CSR:LLaVA"], arms));
        Assert.Equal([("DEEM", "baseline")], RunFolders.ParseComparisons([], arms));
        Assert.Empty(RunFolders.ParseComparisons([], [Arm("DEEM", "deem")]));
        foreach (var bad in new[] { "DEEM", "DEEM:LLaVA:baseline", "DEEM:other", "DEEM:DEEM" })
            Assert.Contains($"'{bad}' is not WITH:WITHOUT", Assert.Throws<DeemConfigException>(() => RunFolders.ParseComparisons([bad], arms)).Message);
        Assert.Contains("given twice", Assert.Throws<DeemConfigException>(() => RunFolders.ParseComparisons(["DEEM:baseline", "DEEM:baseline"], arms)).Message);

        // Arms whose training folders say which trained with CSR: the default pair puts that one first, whatever the
        // order given, and a pair that puts the arm without CSR first is refused (it would print without − with).
        ExperimentArm[] byCsr = [new("baseline", "deem", false, []), new("DEEM", "deem", true, [])];
        Assert.Equal([("DEEM", "baseline")], RunFolders.ParseComparisons([], byCsr));
        Assert.Equal([("DEEM", "baseline")], RunFolders.ParseComparisons(["DEEM:baseline"], byCsr));
        Assert.Contains("'baseline:DEEM' puts baseline, trained without CSR, before DEEM, trained with it; give WITH:WITHOUT, DEEM:baseline",
            Assert.Throws<DeemConfigException>(() => RunFolders.ParseComparisons(["baseline:DEEM"], byCsr)).Message);
    }

    [Fact]
    public void ArmsOfTwoArchitecturesAreNoPair()
    {
        // By default the first two arms are compared only when they share an architecture ...
        ExperimentArm[] mixed = [Arm("baseline", "deem"), Arm("LLaVA", "llava")];
        Assert.Empty(RunFolders.ParseComparisons([], mixed));
        // ... and a pair asked across two is refused, naming both.
        var e = Assert.Throws<DeemConfigException>(() => RunFolders.ParseComparisons(["baseline:LLaVA"], mixed));
        Assert.Contains("'baseline:LLaVA' pairs arms of two architectures (deem and llava)", e.Message);
    }

    [Fact]
    public void BadArmsAndMissingFilesAreOneLineErrorsNamingThem()
    {
        using var tmp = new TempDir();
        var spec = Assert.Throws<DeemConfigException>(() => RunFolders.ParseArm("DEEM"));
        Assert.Contains("--arm", spec.Message);
        var empty = Assert.Throws<DeemConfigException>(() => RunFolders.ParseArm("DEEM= ,"));
        Assert.Contains("DEEM", empty.Message);
        string missing = Path.Combine(tmp.Path, "nothing");
        var e = Assert.Throws<DeemFormatException>(() => RunFolders.ParseArm($"DEEM={missing}"));
        Assert.Contains(Path.Combine(missing, "suite_scores.json"), e.Message);
        Directory.CreateDirectory(missing);
        File.WriteAllText(Path.Combine(missing, "suite_scores.json"), "{\"model\":\"x\"}");
        var none = Assert.Throws<DeemFormatException>(() => RunFolders.ParseArm($"DEEM={missing}"));
        Assert.Contains("none of the benchmark columns", none.Message);
        File.WriteAllText(Path.Combine(missing, "suite_scores.json"), "{\"model\":");
        Assert.Throws<DeemFormatException>(() => RunFolders.ParseArm($"DEEM={missing}"));
    }

    /// <summary>A training folder as <c>deem train</c> leaves it (the files the report reads): a model config and a checkpoint's state.</summary>
    static string TrainFolder(string root, string name, string arch, int seed)
    {
        string dir = Path.Combine(root, name), step = Path.Combine(dir, TrainingCheckpoint.Folder, "step-0000010");
        Directory.CreateDirectory(step);
        var config = arch == "llava" ? DeemConfig.TinyLlavaFor(Deem.Text.SpecialTokens.Tiny) : DeemConfig.TinyFor(Deem.Text.SpecialTokens.Tiny);
        config.Save(Path.Combine(dir, DeemCheckpoint.ConfigFile));
        var state = new TrainerState { Step = 10, Seed = seed, Stage = StageConfig.Load("tiny", "stage2"), Data = new DataPosition() };
        File.WriteAllText(Path.Combine(step, TrainingCheckpoint.StateFile), state.ToJson());
        return dir;
    }

    [Fact]
    public void AnArmTakesItsArchitectureFromItsTrainingFoldersAndTheReportThePaperDeltasOfThatArchitecture()
    {
        using var tmp = new TempDir();
        string e0 = EvalFolder(tmp.Path, "e0", 60, 50, 50, breakdown: false), e1 = EvalFolder(tmp.Path, "e1", 70, 50, 50, breakdown: false);
        string l0 = TrainFolder(tmp.Path, "l0", "llava", 3), l1 = TrainFolder(tmp.Path, "l1", "llava", 4), d0 = TrainFolder(tmp.Path, "d0", "deem", 5);

        var llava = RunFolders.ParseArm($"LLaVA+CSR={e0}@{l0},{e1}@{l1}");
        Assert.Equal("llava", llava.Arch);
        Assert.Equal([3, 4], llava.Runs.Select(r => r.Seed));                    // seeds from the checkpoints
        Assert.Equal("deem", RunFolders.ParseArm($"DEEM={e0}@{d0}").Arch);
        Assert.Equal("deem", RunFolders.ParseArm($"DEEM={e0}").Arch);           // no training folder: DEEM's
        var mixed = Assert.Throws<DeemConfigException>(() => RunFolders.ParseArm($"X={e0}@{l0},{e1}@{d0}"));
        Assert.Contains("'X' mixes runs of the architectures llava and deem", mixed.Message);

        var baseline = RunFolders.ParseArm($"LLaVA={e1},{e0}");
        var md = CsrExperimentReport.Markdown([llava, baseline with { Arch = "llava" }], [("LLaVA+CSR", "LLaVA")], "by hand");
        // Equal runs in another order: Welch SE = √(50/2 + 50/2) = 7.07, df = 2, t = 4.303 → ±30.43.
        Assert.Contains("| LLaVA+CSR − LLaVA | POPE | +0.00 | [-30.43, 30.43] | no | +12.9 (T5) |", md);
        Assert.Contains("| LLaVA+CSR − LLaVA | MMVP | +0.00 | [0.00, 0.00] | no | +6.5 (T5) |", md);
        Assert.Contains("T5 = Table 5", md);
    }

    /// <summary>
    /// The result files of docs/results/sft-24k (§2.21's runs, kept in the repository) read back through the report's
    /// reader to the figures docs/experiments.md gives for them, so the archive stays readable and true to the text.
    /// </summary>
    [Fact]
    public void TheArchivedRunsOfTheDocsReadBackToTheFiguresTheDocsGive()
    {
        string root = Path.Combine(RepositoryRoot.Path, "docs", "results", "sft-24k");
        ArmRun[] Runs(params string[] names) => [.. names.Select(n => RunFolders.Read(Path.Combine(root, "E_" + n), Path.Combine(root, n), seed: -1))];
        static double[] Column(ArmRun[] runs, string column) => [.. runs.Select(r => Math.Round(r.Metrics[column], 2))];

        var deem = Runs("H_D2_s1", "H_D2_s2");
        Assert.Equal([1, 2], deem.Select(r => r.Seed));                           // from each run's trainer state
        Assert.Equal("deem", DeemConfig.Load(Path.Combine(root, "H_D2_s1", DeemCheckpoint.ConfigFile)).Arch);
        Assert.Equal([81.11, 82.22], Column(deem, "POPE-R"));
        Assert.Equal([55.77, 33.05], Column(deem, "RVQA-A"));
        Assert.Equal([23.33, 26.67], Column(deem, "MMVP"));
        Assert.Equal([83.89, 82.93], Column(deem, WorldBreakdown.InDistribution));

        var llavaCsr = Runs("H_LC2_s1", "H_LC2_s2");
        Assert.Equal([1, 2], llavaCsr.Select(r => r.Seed));
        Assert.Equal("llava", DeemConfig.Load(Path.Combine(root, "H_LC2_s1", DeemCheckpoint.ConfigFile)).Arch);
        Assert.Equal([87.22, 87.78], Column(llavaCsr, "POPE-R"));
        Assert.Equal([88.82, 90.99], Column(llavaCsr, WorldBreakdown.InDistribution));
        Assert.Equal([26.67, 36.67], Column(llavaCsr, "MMVP"));
    }

    /// <summary>
    /// §2.22's 48 000-step runs, kept in docs/results/sft-48k, read back to the figures the docs give: seed and CSR weight
    /// from the last checkpoint's trainer state (the baseline trains with λ_CSR = 0), POPE-R, RVQA-ID, MMVP, RVQA-A.
    /// </summary>
    [Theory]
    [InlineData("J_B2_s0", 0, 0.0, 82.78, 89.90, 43.33, 55.17)]
    [InlineData("J_B2_s1", 1, 0.0, 83.89, 90.02, 46.67, 58.65)]
    [InlineData("J_B2_s2", 2, 0.0, 83.33, 91.35, 36.67, 59.50)]
    [InlineData("J_D2_s1", 1, 5.0, 82.22, 91.95, 50.00, 36.78)]
    [InlineData("J_D2_s2", 2, 5.0, 82.22, 92.55, 43.33, 59.74)]
    [InlineData("J_D2_s0", 0, 5.0, 82.78, 86.66, 53.33, 49.88)]
    public void TheArchivedLongScheduleRunsReadBackToTheFiguresTheDocsGive(string name, int seed, double csrWeight, double popeR, double rvqaId, double mmvp, double rvqaA)
    {
        string root = Path.Combine(RepositoryRoot.Path, "docs", "results", "sft-48k");
        var run = RunFolders.Read(Path.Combine(root, "E_" + name), Path.Combine(root, name), seed: -1);
        var state = TrainingCheckpoint.LoadState(TrainingCheckpoint.FindLatest(Path.Combine(root, name)));
        Assert.Equal(seed, run.Seed);
        Assert.Equal(48_000, state.Step);
        Assert.Equal(csrWeight, state.Stage.CsrWeight);
        Assert.Equal("deem", DeemConfig.Load(Path.Combine(root, name, DeemCheckpoint.ConfigFile)).Arch);
        Assert.Equal(popeR, Math.Round(run.Metrics["POPE-R"], 2));
        Assert.Equal(rvqaId, Math.Round(run.Metrics[WorldBreakdown.InDistribution], 2));
        Assert.Equal(mmvp, Math.Round(run.Metrics["MMVP"], 2));
        Assert.Equal(rvqaA, Math.Round(run.Metrics["RVQA-A"], 2));
        // the arm read from its folders knows whether it trained with CSR (λ_CSR > 0 in the trainer state)
        Assert.Equal(csrWeight > 0, RunFolders.ParseArm($"arm={Path.Combine(root, "E_" + name)}@{Path.Combine(root, name)}").Csr);
    }

    [Fact]
    public void AnArmOfRunsWithAndWithoutCsrIsRefused()
    {
        string root = Path.Combine(RepositoryRoot.Path, "docs", "results", "sft-48k");
        string Run(string name) => $"{Path.Combine(root, "E_" + name)}@{Path.Combine(root, name)}";
        var e = Assert.Throws<DeemConfigException>(() => RunFolders.ParseArm($"mixed={Run("J_B2_s0")},{Run("J_D2_s1")}"));
        Assert.Contains("'mixed' mixes runs trained with and without CSR", e.Message);
        Assert.False(RunFolders.ParseArm($"baseline={Run("J_B2_s0")},{Run("J_B2_s1")}").Csr);
    }

    /// <summary>
    /// §2.23's runs re-scored on the benchmark at its own sizes (<c>F_</c> folders beside the runs): 3000 POPE questions
    /// per split and 150 MMVP pairs, POPE-R and MMVP as the docs give them, and RobustVQA equal to the run's score on the
    /// 30-image benchmark (both benchmarks hold the same RobustVQA files).
    /// </summary>
    [Theory]
    [InlineData("sft-48k", "J_B2_s0", 88.50, 59)]
    [InlineData("sft-48k", "J_B2_s1", 88.60, 65)]
    [InlineData("sft-48k", "J_B2_s2", 88.17, 67)]
    [InlineData("sft-48k", "J_D2_s1", 86.27, 67)]
    [InlineData("sft-48k", "J_D2_s2", 86.00, 65)]
    [InlineData("sft-48k", "J_D2_s0", 86.43, 57)]
    [InlineData("sft-24k", "H_D2_s1", 84.77, 27)]
    [InlineData("sft-24k", "H_D2_s2", 84.50, 37)]
    [InlineData("sft-24k", "H_LC2_s1", 86.73, 27)]
    [InlineData("sft-24k", "H_LC2_s2", 90.10, 46)]
    public void TheRunsRescoredAtTheBenchmarksOwnSizesReadBackToTheFiguresTheDocsGive(string folder, string name, double popeR, int mmvpPairs)
    {
        string root = Path.Combine(RepositoryRoot.Path, "docs", "results", folder);
        var full = RunFolders.Read(Path.Combine(root, "F_" + name), Path.Combine(root, name), seed: -1);
        var small = RunFolders.Read(Path.Combine(root, "E_" + name), Path.Combine(root, name), seed: -1);
        var pope = ScoresFile.Read(Path.Combine(root, "F_" + name, PopeRunner.ScoresFileName));
        Assert.All(Pope.Splits, split => Assert.Equal(3000, (int)pope[split]!["questions"]!));
        var mmvp = ScoresFile.Read(Path.Combine(root, "F_" + name, MmvpRunner.ScoresFileName));
        Assert.Equal((150, mmvpPairs), ((int)mmvp["pairs"]!, (int)mmvp["pairs_correct"]!));
        Assert.Equal(popeR, Math.Round(full.Metrics["POPE-R"], 2));
        Assert.Equal(Math.Round(100.0 * mmvpPairs / 150, 2), Math.Round(full.Metrics["MMVP"], 2));
        Assert.Equal(small.Seed, full.Seed);
        foreach (var column in new[] { "RVQA-A", "RVQA-R", "RVQA-V", WorldBreakdown.InDistribution })
            Assert.Equal(small.Metrics[column], full.Metrics[column]);
    }
}
