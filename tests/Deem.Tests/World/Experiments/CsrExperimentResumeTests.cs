using Deem.Tests.Training;
using Deem.Training;
using Deem.World;
using Deem.World.Experiments;
using static TorchSharp.torch;

namespace Deem.Tests.World.Experiments;

/// <summary>
/// A stage of the experiment that stopped (a killed process, a restarted machine) continues from its last checkpoint when
/// the experiment runs again, and ends where an uninterrupted stage ends; a finished stage trains nothing more.
/// </summary>
[Collection(TrainingCollection.Name)]
public class CsrExperimentResumeTests(TrainingWorld world)
{
    TrainingRunOptions Stage1(string dir, int? stopAt = null) => new()
    {
        OutDir = dir, Data = world.Paths, Stage = 1, Steps = 4, Seed = 3, Tokenizer = WorldTokenizer.Default, BatchSize = 1, EvalBatches = 1,
        Trainer = new TrainerOptions { OutDir = "", SaveEvery = 2, EvalEvery = 2, TensorBoard = false, StopAtStep = stopAt },
    };

    [Fact]
    public void AStoppedStageResumesFromItsLastCheckpointAndEndsWhereAStraightOneEnds()
    {
        using var straightDir = new TempDir();
        using var stoppedDir = new TempDir();
        var log = new List<string>();

        Dictionary<string, Tensor> straight;
        using (var run = CsrExperiment.OpenStage(Stage1(straightDir.Path), null, "straight", log.Add, out double none))
        {
            Assert.Null(run.ResumedFrom);
            Assert.Equal(0, none);
            Assert.Equal(4, run.Run().Step);
            straight = TrainingWorld.Snapshot(run.Model);
        }
        Assert.Empty(log);

        using (var run = CsrExperiment.OpenStage(Stage1(stoppedDir.Path, stopAt: 2), null, "stopped", log.Add, out _))
            Assert.Equal(2, run.Run().Step);

        Dictionary<string, Tensor> resumed;
        using (var run = CsrExperiment.OpenStage(Stage1(stoppedDir.Path), null, "stopped", log.Add, out double earlier))
        {
            Assert.Equal(2, run.ResumedFrom!.Value.Step);
            Assert.True(earlier > 0, "the seconds of the steps before the stop are counted");
            Assert.Equal(4, run.Run().Step);
            resumed = TrainingWorld.Snapshot(run.Model);
        }
        Assert.Equal("stopped: resuming from " + Path.Combine(stoppedDir.Path, "checkpoints", "step-0000002") + " at step 2", Assert.Single(log));

        double maxDiff = straight.Keys.Max(k => (straight[k] - resumed[k]).abs().max().item<float>());
        Assert.True(maxDiff <= 1e-6, $"max abs parameter difference {maxDiff}");
        var straightEvals = EvalLog.Read(Path.Combine(straightDir.Path, EvalLog.FileName));
        var resumedEvals = EvalLog.Read(Path.Combine(stoppedDir.Path, EvalLog.FileName));
        Assert.Equal([0, 2, 4], resumedEvals.Select(e => e.Step));
        Assert.Equal(straightEvals.Select(e => e.Ntp), resumedEvals.Select(e => e.Ntp));

        // Run again once finished: it resumes at the last step, trains and evaluates nothing, and the logs keep their end.
        using (var run = CsrExperiment.OpenStage(Stage1(stoppedDir.Path), null, "finished", log.Add, out _))
        {
            Assert.Equal(4, run.ResumedFrom!.Value.Step);
            var result = run.Run();
            Assert.Empty(result.Metrics);
            Assert.Empty(result.Evals);
        }
        Assert.Equal(4, EvalLog.Read(Path.Combine(stoppedDir.Path, EvalLog.FileName))[^1].Step);
        var logged = MetricsLog.Read(Path.Combine(stoppedDir.Path, MetricsLog.FileName));
        Assert.Equal(Enumerable.Range(1, 4), logged.Select(m => m.Step));

        // The summary is the run's, not the last process's: its first evaluation is step 0's, its loss the last step's.
        using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(stoppedDir.Path, Trainer.SummaryFile)));
        Assert.Equal(0, summary.RootElement.GetProperty("first_eval").GetProperty("step").GetInt32());
        Assert.Equal(4, summary.RootElement.GetProperty("last_eval").GetProperty("step").GetInt32());
        Assert.Equal(resumedEvals[0].Ntp, summary.RootElement.GetProperty("first_eval").GetProperty("ntp").GetDouble());
        Assert.Equal(logged[^1].Loss, summary.RootElement.GetProperty("final_loss").GetDouble());
    }

    [Fact]
    public void AStoppedStageOfAnotherScheduleOrSeedIsRefusedNotContinued()
    {
        using var dir = new TempDir();
        using (var run = CsrExperiment.OpenStage(Stage1(dir.Path, stopAt: 1), null, "stopped", _ => { }, out _))
            run.Run();
        var steps = Assert.Throws<DeemConfigException>(() => CsrExperiment.OpenStage(Stage1(dir.Path) with { Steps = 6 }, null, "", _ => { }, out _));
        Assert.Contains("holds a stopped run of 4 steps, seed 3", steps.Message);
        Assert.Contains("not the 6 steps, seed 3", steps.Message);
        var seed = Assert.Throws<DeemConfigException>(() => CsrExperiment.OpenStage(Stage1(dir.Path) with { Seed = 4 }, null, "", _ => { }, out _));
        Assert.Contains("seed 4", seed.Message);
        Assert.StartsWith("--out", seed.Message);
    }
}
