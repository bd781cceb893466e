using Deem.World.Experiments;
using Deem.Benchmarks;

namespace Deem.Tests.World.Experiments;

public class CsrExperimentReportTests
{
    static ArmRun Run(int seed, double rvqa, double pope, double mmvp, double s) => new(seed,
        new Dictionary<string, double>
        {
            ["RVQA-A"] = rvqa, ["RVQA-R"] = rvqa, ["RVQA-V"] = rvqa,
            ["POPE-R"] = pope, ["POPE-P"] = pope, ["POPE-A"] = pope, ["MMVP"] = mmvp,
        }, s, 10 * s, Threads: 1, Concurrent: 2);

    /// <summary>Three seeds per arm: DEEM 10 points above the baseline on RobustVQA and MMVP, equal on POPE, 1.5 × its step time.</summary>
    static (ExperimentArm Baseline, ExperimentArm Deem) ThreeSeeds() => (
        new ExperimentArm("baseline", "deem", false, [Run(0, 50, 60, 10, 0.2), Run(1, 52, 62, 12, 0.2), Run(2, 54, 64, 14, 0.2)]),
        new ExperimentArm("DEEM", "deem", true, [Run(0, 60, 60, 20, 0.3), Run(1, 62, 62, 22, 0.3), Run(2, 64, 64, 24, 0.3)]));

    [Fact]
    public void ReportHasTheTablesTheDifferencesAndTheStepRatio()
    {
        var (baseline, deem) = ThreeSeeds();
        var md = CsrExperimentReport.Markdown([baseline, deem], [("DEEM", "baseline")], "setup text");

        Assert.Contains("setup text", md);
        // Mean ± t(0.975, 2)·s/√3 with s = 2: 52 ± 4.303·2/√3 = 52 ± 4.97.
        Assert.Contains("| baseline | 3 | 52.00 ± 4.97", md);
        // RobustVQA: +10 points; Welch SE = √(4/3 + 4/3) = 1.633, df = 4, t = 2.776 → ±4.53.
        Assert.Contains("| DEEM − baseline | RobustVQA | +10.00 | [5.47, 14.53] | yes | +4.0 (text) · +8.2 (T1) · +1.3 (T3 SFT) |", md);
        Assert.Contains("| DEEM − baseline | POPE | +0.00 | [-4.53, 4.53] | no | +12.8 (text) · +18.2 (T1) · +0.6 (T3 SFT) |", md);
        Assert.Contains("T1 = Table 1, DEEM − DEEM* after pre-training", md);
        Assert.Contains("**1.50×** (paper Table 3: 1.14× for stage 1), every run at 1 thr × 2.", md);
    }

    [Fact]
    public void ADifferenceOfOneSeedPerArmIsSignedAndHasNoInterval()
    {
        var (baseline, deem) = ThreeSeeds();
        var md = CsrExperimentReport.Markdown([deem with { Runs = [deem.Runs[0]] }, baseline with { Runs = [baseline.Runs[2]] }],
            [("DEEM", "baseline")], "one seed each");
        Assert.Contains("| DEEM − baseline | RobustVQA | +6.00 | (needs ≥ 2 seeds) | – | +4.0 (text) · +8.2 (T1) · +1.3 (T3 SFT) |", md);       // 60 − 54
        Assert.Contains("| DEEM − baseline | POPE | -4.00 | (needs ≥ 2 seeds) | – | +12.8 (text) · +18.2 (T1) · +0.6 (T3 SFT) |", md);         // 60 − 64
    }

    [Fact]
    public void AReportWithoutAPairSaysSoAndHasNoDifferenceTable()
    {
        var (_, deem) = ThreeSeeds();
        var md = CsrExperimentReport.Markdown([deem], [], "one arm");
        Assert.Contains("## Difference with CSR − without", md);
        Assert.Contains("No pair of arms with and without CSR in this report.", md);
        Assert.DoesNotContain("| comparison | benchmark |", md);
        Assert.DoesNotContain("T1 = Table 1", md);
        // A pair named but absent from the arms is no pair either.
        Assert.Contains("No pair of arms", CsrExperimentReport.Markdown([deem], [("DEEM", "baseline")], "one arm"));
    }

    [Fact]
    public void StepTimesOfRunsTrainedInOtherLayoutsAreNotCompared()
    {
        // Seed 0 alone on two threads, seeds 1 and 2 side by side on one: their s/step are not one measure.
        var (baseline, deem) = ThreeSeeds();
        baseline = baseline with { Runs = [baseline.Runs[0] with { Threads = 2, Concurrent = 1 }, .. baseline.Runs.Skip(1)] };
        var md = CsrExperimentReport.Markdown([baseline, deem], [("DEEM", "baseline")], "setup");
        Assert.Contains("Stage-1 step-time ratio DEEM / baseline: not comparable", md);
        Assert.Contains("(threads × runs at once: 1 thr × 2, 2 thr × 1)", md);
        Assert.DoesNotContain("**1.", md);
        Assert.Contains("| 0.200 | 2 thr × 1 |", md);
        // Run records written before the layout was kept read as unrecorded.
        var old = new ExperimentArm("DEEM", "deem", true, [Run(0, 60, 60, 20, 0.3) with { Threads = null, Concurrent = null }]);
        Assert.Contains("not comparable", CsrExperimentReport.Markdown([baseline, old], [("DEEM", "baseline")], "setup"));
        var json = System.Text.Json.JsonSerializer.Deserialize<ArmRun>("{\"Seed\":0,\"Metrics\":{},\"SecondsPerStep\":0.1,\"TrainSeconds\":1}")!;
        Assert.Equal("–", json.Layout);
    }

    [Fact]
    public void PerSeedRowsCarryTheYesRatioAndTheImageGap()
    {
        var r = Run(0, 50, 50, 0, 0.2);
        var metrics = new Dictionary<string, double>(r.Metrics)
        {
            [CsrExperimentReport.YesRatioColumn] = 100, [CsrExperimentReport.ImageGapColumn] = -0.00004,
        };
        var arm = new ExperimentArm("DEEM", "deem", true, [r with { Metrics = metrics }]);
        var md = CsrExperimentReport.Markdown([arm], [], "setup");
        Assert.Contains("| POPE yes % | image gap (nats) | s/step |", md);
        Assert.Contains("| 100.00 | 0.00 | 0.200 |", md);
    }

    [Fact]
    public void ChartIsAPng()
    {
        var arm = new ExperimentArm("DEEM", "deem", true, [Run(0, 60, 60, 20, 0.3), Run(1, 62, 61, 22, 0.3)]);
        var png = CsrExperimentReport.ChartPng([arm], 300, 200);
        Assert.True(png.Length > 100);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
    }

    [Fact]
    public void BreakdownTableAppearsOnlyWithTheWorldColumns()
    {
        var plain = new ExperimentArm("baseline", "deem", false, [Run(0, 50, 50, 0, 0.2)]);
        Assert.DoesNotContain("In-distribution vs shifted", CsrExperimentReport.Markdown([plain], [], "setup"));
        ArmRun With(int seed, double id, double seen, double unseen)
        {
            var r = Run(seed, 50, 50, 0, 0.2);
            var m = new Dictionary<string, double>(r.Metrics)
            {
                [Deem.World.Benchmarks.WorldBreakdown.InDistribution] = id, [Deem.World.Benchmarks.WorldBreakdown.Ood] = 50,
                [Deem.World.Benchmarks.WorldBreakdown.MmvpSeen] = seen, [Deem.World.Benchmarks.WorldBreakdown.MmvpUnseen] = unseen,
            };
            return r with { Metrics = m };
        }
        var arm = new ExperimentArm("DEEM", "deem", true, [With(0, 80, 40, 10), With(1, 82, 42, 12), With(2, 84, 44, 14)]);
        var md = CsrExperimentReport.Markdown([arm], [], "setup");
        Assert.Contains("| arm | RVQA-ID | RVQA-OOD | MMVP seen | MMVP unseen |", md);
        Assert.Contains("| DEEM | 82.00 ± 4.97 | 50.00 ± 0.00 | 42.00 ± 4.97 | 12.00 ± 4.97 |", md);
    }
}
