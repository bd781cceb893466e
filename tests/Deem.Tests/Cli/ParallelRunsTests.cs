using System.CommandLine;
using Deem.Cli;
using Deem.World.Experiments;

namespace Deem.Tests.Cli;

/// <summary>
/// <c>--jobs</c>: the experiment's runs, their folders, and the command line of the child process that
/// trains one of them, read back by the real <c>experiment csr</c> parser.
/// </summary>
public class ParallelRunsTests
{
    static CsrExperimentOptions Options(string outDir = "X") => new()
    {
        World = "W", Stage0 = "S0", OutDir = outDir, Seeds = [0, 1], LlavaSeeds = [5], Arches = ["deem", "llava"],
        Stage1Steps = 7, Stage2Steps = 11, PopeImages = 3, MmvpPairs = 4, CsrWeight = 0.5, SaveEvery = 5,
    };

    [Fact]
    public void PlanIsArmByArmSeedsInOrderWithTheLlavaSeedsAndOnlyArms()
    {
        Assert.Equal(["baseline 0", "baseline 1", "DEEM 0", "DEEM 1", "LLaVA 5", "LLaVA+CSR 5"],
            CsrExperiment.Plan(Options()).Select(r => $"{r.Arm} {r.Seed}"));
        Assert.Equal([new PlannedRun("deem", "DEEM", true, 0), new PlannedRun("deem", "DEEM", true, 1)],
            CsrExperiment.Plan(Options() with { OnlyArms = ["DEEM"] }));
    }

    [Fact]
    public void AFinishedRunIsTheOneWithItsRunFile()
    {
        using var tmp = new TempDir();
        var run = new PlannedRun("llava", "LLaVA+CSR", true, 5);
        Assert.False(CsrExperiment.Finished(tmp.Path, run));
        string dir = CsrExperiment.RunDir(tmp.Path, run.Arm, run.Seed);
        Assert.Equal(Path.Combine(tmp.Path, "runs", "LLaVA_CSR", "seed5"), dir);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, CsrExperiment.RunFile), "{}");
        Assert.True(CsrExperiment.Finished(tmp.Path, run));
        Assert.False(CsrExperiment.Finished(tmp.Path, run with { Seed = 6 }));
    }

    [Fact]
    public void TheLongerCsrRunsAreHandedOutFirst() =>
        Assert.Equal(["DEEM 0", "DEEM 1", "LLaVA+CSR 5", "baseline 0", "baseline 1", "LLaVA 5"],
            ParallelRuns.LongestFirst(CsrExperiment.Plan(Options())).Select(r => $"{r.Arm} {r.Seed}"));

    [Theory]
    [InlineData(2, 2, 1)]
    [InlineData(1, 16, 16)]
    [InlineData(3, 16, 5)]
    [InlineData(4, 2, 1)]
    public void EachJobGetsItsShareOfTheCores(int jobs, int cores, int threads) =>
        Assert.Equal(threads, ParallelRuns.ThreadsPerJob(jobs, cores));

    [Fact]
    public void TheChildsCommandLineParsesToTheSameRunRestrictedToOneArmAndSeed()
    {
        var o = Options();
        var args = ParallelRuns.ChildArguments(o, new PlannedRun("llava", "LLaVA+CSR", true, 5), threads: 3, jobs: 2);
        var root = new RootCommand { ExperimentCommand.Create() };
        var parse = root.Parse(args.ToArray());
        Assert.Empty(parse.Errors);
        Assert.Equal("csr", parse.CommandResult.Command.Name);
        Assert.Equal("W", parse.GetValue<string>("--world"));
        Assert.Equal("S0", parse.GetValue<string>("--stage0"));
        Assert.Equal("X", parse.GetValue<string>("--out"));
        Assert.Equal("llava", parse.GetValue<string>("--arch"));
        Assert.Equal("LLaVA+CSR", parse.GetValue<string>("--arms"));
        Assert.Equal("5", parse.GetValue<string>("--seeds"));
        Assert.Equal(7, parse.GetValue<int>("--stage1-steps"));
        Assert.Equal(11, parse.GetValue<int>("--stage2-steps"));
        Assert.Equal(3, parse.GetValue<int>("--pope-images"));
        Assert.Equal(4, parse.GetValue<int>("--mmvp-pairs"));
        Assert.Equal(5, parse.GetValue<int>("--save-every"));
        Assert.Equal(0.5, parse.GetValue<double?>("--csr-weight"));
        Assert.Equal(3, parse.GetValue<int?>("--threads"));
        Assert.Equal(1, parse.GetValue<int>("--jobs"));
        Assert.Equal(2, parse.GetValue<int>(ExperimentCommand.ConcurrentRunsName));
        Assert.DoesNotContain("--csr-weight", ParallelRuns.ChildArguments(o with { CsrWeight = null }, new PlannedRun("deem", "baseline", false, 0), 1, 2));
    }

    [Fact]
    public void SettingsWithoutAnOptionAreRefusedNotDropped() =>
        Assert.Contains("--jobs", Assert.Throws<DeemConfigException>(() =>
            ParallelRuns.ChildArguments(Options() with { MaxNewTokens = 9 }, new PlannedRun("deem", "DEEM", true, 0), 1, 2)).Message);
}
