using Deem.World;
using Deem.Model;
using Deem.Tests.Data;
using Deem.Text;
using Deem.Training;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

[Collection(TrainingCollection.Name)]
public class TrainerTests(TrainingWorld world)
{
    [Fact]
    public void ResumedRunEqualsUninterruptedRun()
    {
        const int n = 2, m = 2;
        var stage = TrainingWorld.Stage(1, n + m);
        using var dirStraight = new TempDir();
        using var dirKilled = new TempDir();

        // N + M steps straight.
        Dictionary<string, Tensor> straight;
        using (var model = TrainingWorld.Model(stage, seed: 0))
        using (var data = world.Stream(stage))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dirStraight.Path, Seed = 3 }))
        {
            Assert.Equal(n + m, trainer.Run().Step);
            straight = TrainingWorld.Snapshot(model);
        }

        // N steps, then the process "dies" after its checkpoint.
        using (var model = TrainingWorld.Model(stage, seed: 0))
        using (var data = world.Stream(stage))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data,
                   new TrainerOptions { OutDir = dirKilled.Path, Seed = 3, StopAtStep = n }))
            Assert.Equal(n, trainer.Run().Step);

        // Fresh objects from the checkpoint: the model read from its folder, new optimiser, stream from the saved position.
        string checkpoint = TrainingCheckpoint.FindLatest(dirKilled.Path);
        var state = TrainingCheckpoint.LoadState(checkpoint);
        Assert.Equal(n, state.Step);
        Dictionary<string, Tensor> resumed;
        using (var model = DeemCheckpoint.Load(checkpoint).Model)
        using (var data = world.Stream(state.Stage, state.Data))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, state.Stage, data, new TrainerOptions { OutDir = dirKilled.Path, Seed = 3 }))
        {
            trainer.Restore(checkpoint);
            Assert.Equal(n + m, trainer.Run().Step);
            resumed = TrainingWorld.Snapshot(model);
        }

        Assert.Equal(straight.Keys, resumed.Keys);
        double maxDiff = straight.Keys.Max(k => (straight[k] - resumed[k]).abs().max().item<float>());
        Assert.True(maxDiff <= 1e-6, $"max abs parameter difference {maxDiff}");
        // The training moved the trainable weights at all (the comparison is not between two untouched models).
        using var init = TrainingWorld.Model(stage, seed: 0);
        var initial = TrainingWorld.Snapshot(init);
        Assert.Contains(straight.Keys, k => (straight[k] - initial[k]).abs().max().item<float>() > 1e-4);
        // The resumed run's metrics hold each step once.
        var metrics = MetricsLog.Read(Path.Combine(dirKilled.Path, MetricsLog.FileName));
        Assert.Equal(Enumerable.Range(1, n + m), metrics.Select(x => x.Step));
    }

    [Fact]
    public void TenStepStageOneRunLowersTheLossAndWritesItsOutputs()
    {
        var stage = TrainingWorld.Stage(1, 10);
        using var dir = new TempDir();
        using var model = TrainingWorld.Model(stage, seed: 0);

        // The loss of held-out batches under fixed noise, before and after training.
        using var heldData = world.Stream(stage with { Seed = 77 });
        using var held = EvalSet.Draw(heldData, 1, "held-out");
        double HeldLoss() => held.Evaluate(model, stage, 0).Loss;

        double before = HeldLoss();
        var lines = new StringWriter();
        TrainResult result;
        using (var data = world.Stream(stage))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir.Path, Seed = 1 },
                   new PlainTrainingObserver(lines)))
            result = trainer.Run();
        double after = HeldLoss();
        Assert.True(after < before, $"held-out loss {before:F4} → {after:F4}");

        var metrics = MetricsLog.Read(Path.Combine(dir.Path, MetricsLog.FileName));
        Assert.Equal(Enumerable.Range(1, 10), metrics.Select(x => x.Step));
        Assert.All(metrics, x => Assert.True(double.IsFinite(x.Loss) && x.Tokens > 0 && x.Images > 0 && x.GradNorm > 0 && x.Csr > 0, $"step {x.Step}"));
        Assert.Contains(metrics, x => x.Nip > 0);                            // NIP is 0 when every image opens its document
        Assert.Equal(0.0, metrics[0].Lr);                                    // warm-up starts at 0 (HF schedule)
        Assert.Equal(stage.Lr, metrics[1].Lr, 12);                           // one warm-up step, then the peak
        Assert.True(metrics[^1].Lr < metrics[1].Lr);                         // cosine decay
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(dir.Path, "tensorboard"), "events.out.tfevents.*"));
        Assert.Contains("step 10/10", lines.ToString());
        Assert.Contains("skipped records: none", File.ReadAllText(Path.Combine(dir.Path, Trainer.LogFile)));
        Assert.Empty(result.SkipTotals);

        // The last checkpoint and the final model folder load as DEEM model folders.
        Assert.Equal(TrainingCheckpoint.PathFor(dir.Path, 10), result.LastCheckpoint);
        foreach (var folder in new[] { result.LastCheckpoint!, dir.Path })
        {
            var (loaded, _) = DeemCheckpoint.Load(folder);
            using (loaded)
            {
                var trained = model.state_dict();
                Assert.All(loaded.state_dict(), kv => Assert.True(kv.Value.equal(trained[kv.Key]).all().item<bool>(), kv.Key));
            }
        }
    }

    [Fact]
    public void ResumeTakesOnlyFoldersWithTheSidecar()
    {
        var stage = TrainingWorld.Stage(1, 4);
        using var dir = new TempDir();
        using (var model = TrainingWorld.Model(stage, seed: 0))
        using (var data = world.Stream(stage))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data,
                   new TrainerOptions { OutDir = dir.Path, Seed = 0, StopAtStep = 2, SaveEvery = 1 }))
            trainer.Run();

        string step1 = TrainingCheckpoint.PathFor(dir.Path, 1), step2 = TrainingCheckpoint.PathFor(dir.Path, 2);
        Assert.Equal(step2, TrainingCheckpoint.FindLatest(dir.Path));
        Assert.Equal(step1, TrainingCheckpoint.FindLatest(step1));

        // A save killed before its sidecar: weights and optimiser state are there, the folder is not a checkpoint.
        File.Delete(Path.Combine(step2, TrainingCheckpoint.StateFile));
        Assert.True(DeemCheckpoint.Exists(step2) && File.Exists(Path.Combine(step2, TrainingCheckpoint.OptimizerFile)));
        Assert.Equal(step1, TrainingCheckpoint.FindLatest(dir.Path));

        File.Delete(Path.Combine(step1, TrainingCheckpoint.StateFile));
        var e = Assert.Throws<DeemFormatException>(() => TrainingCheckpoint.FindLatest(dir.Path));
        Assert.Contains(TrainingCheckpoint.StateFile, e.Message);
        Assert.Throws<DeemFormatException>(() => TrainingCheckpoint.LoadState(step2));
    }

    [Fact]
    public void TheCheckpointRecordsTheRunsCadencesSoAResumedRunKeepsThem()
    {
        var stage = TrainingWorld.Stage(1, 4);
        Assert.NotEqual(1, stage.SaveEvery);             // the run's value differs from the recipe's
        Assert.NotEqual(7, stage.EvalEvery);
        Assert.NotEqual(0, stage.KeepCheckpoints);
        using var dir = new TempDir();
        using (var model = TrainingWorld.Model(stage, seed: 0))
        using (var data = world.Stream(stage))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data,
                   new TrainerOptions { OutDir = dir.Path, Seed = 0, StopAtStep = 1, SaveEvery = 1, EvalEvery = 7, KeepCheckpoints = 0 }))
            trainer.Run();

        var recorded = TrainingCheckpoint.LoadState(TrainingCheckpoint.FindLatest(dir.Path)).Stage;
        Assert.Equal(1, recorded.SaveEvery);
        Assert.Equal(7, recorded.EvalEvery);
        Assert.Equal(0, recorded.KeepCheckpoints);       // --keep-checkpoints 0 outlives a --resume without it
        Assert.Equal(stage.LogEvery, recorded.LogEvery);   // not given: the recipe's
        Assert.Equal(stage.Steps, recorded.Steps);
    }

    [Fact]
    public void TrainingStepsLeaveNoLiveTensorsBehind()
    {
        var stage = TrainingWorld.Stage(1, 6);
        using var dir = new TempDir();
        using var model = TrainingWorld.Model(stage, seed: 0);
        using var data = world.Stream(stage);
        using var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir.Path, TensorBoard = false });
        trainer.TrainStep();
        trainer.TrainStep();                                   // gradients and optimiser state exist from here on
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) trainer.TrainStep();
        Assert.Equal(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
