using Deem.World;
using Deem.IO;
using Deem.Tests.Data;
using Deem.Text;
using Deem.Training;

namespace Deem.Tests.Training;

/// <summary>What a kill leaves in a run folder (a half-pruned or half-written <c>step-*</c>, orphaned temp files) is removed on the next start; pruning keeps the newest complete checkpoints.</summary>
public class CheckpointLeftoverTests
{
    const int GonePid = 4_194_305;                                    // above Linux's pid_max: never a running process

    static string Temp(string target, int pid) => $"{target}.tmp-{pid}-{Guid.NewGuid():N}";

    [Fact]
    public void IncompleteStepFoldersAndOrphanedTempFilesAreRemovedOnly()
    {
        using var run = new TempDir();
        string complete = TrainingCheckpoint.PathFor(run.Path, 100), pruned = TrainingCheckpoint.PathFor(run.Path, 50),
               unfinished = TrainingCheckpoint.PathFor(run.Path, 150);
        foreach (var d in new[] { complete, pruned, unfinished }) Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(complete, TrainingCheckpoint.StateFile), "{}");
        File.WriteAllText(Path.Combine(complete, "model.safetensors"), "w");
        File.WriteAllText(Path.Combine(pruned, "optimizer.safetensors"), "half deleted");   // sidecar already gone
        File.WriteAllText(Temp(Path.Combine(unfinished, "model.safetensors"), GonePid), "half written");

        string orphanInRun = Temp(Path.Combine(run.Path, "metrics.jsonl"), GonePid);
        string orphanInStep = Temp(Path.Combine(complete, "optimizer.safetensors"), GonePid);
        string mine = Temp(Path.Combine(run.Path, "report.json"), Environment.ProcessId);
        string someoneElses = Temp(Path.Combine(run.Path, "report.json"), 1);                 // pid 1 always runs
        string userFile = Path.Combine(run.Path, "notes.tmp-keep");
        foreach (var f in new[] { orphanInRun, orphanInStep, mine, someoneElses, userFile }) File.WriteAllText(f, "x");

        var removed = TrainingCheckpoint.CleanLeftovers(run.Path);

        Assert.Equal(new[] { orphanInRun, orphanInStep, pruned, unfinished }.Order(), removed.Order());
        Assert.False(Directory.Exists(pruned));
        Assert.False(Directory.Exists(unfinished));
        Assert.True(TrainingCheckpoint.IsComplete(complete));
        Assert.True(File.Exists(Path.Combine(complete, "model.safetensors")));
        Assert.All(new[] { mine, someoneElses, userFile }, f => Assert.True(File.Exists(f), f));
        Assert.Empty(TrainingCheckpoint.CleanLeftovers(run.Path));
        Assert.Equal(complete, TrainingCheckpoint.FindLatest(run.Path));
    }

    [Fact]
    public void AMissingRunFolderHasNoLeftovers() =>
        Assert.Empty(TrainingCheckpoint.CleanLeftovers(Path.Combine(Path.GetTempPath(), "deem-no-run-" + Guid.NewGuid().ToString("N"))));

    [Theory]
    [InlineData(2, new[] { 300, 400 })]
    [InlineData(0, new[] { 100, 200, 300, 400 })]       // --keep-checkpoints 0: every one stays
    public void PruneKeepsTheNewestCompleteCheckpoints(int keep, int[] kept)
    {
        using var run = new TempDir();
        foreach (int step in new[] { 100, 200, 300, 400 })
        {
            string d = TrainingCheckpoint.PathFor(run.Path, step);
            Directory.CreateDirectory(d);
            File.WriteAllText(Path.Combine(d, TrainingCheckpoint.StateFile), "{}");
        }
        string unfinished = TrainingCheckpoint.PathFor(run.Path, 500);
        Directory.CreateDirectory(unfinished);                                       // no state file: not a checkpoint

        TrainingCheckpoint.Prune(run.Path, keep);

        int[] left = [.. new[] { 100, 200, 300, 400 }.Where(s => Directory.Exists(TrainingCheckpoint.PathFor(run.Path, s)))];
        Assert.Equal(kept, left);
        Assert.True(Directory.Exists(unfinished));
    }
}

/// <summary>A checkpoint the disk refuses is one line naming its folder; the checkpoint before it stays complete and resumable.</summary>
[Collection(TrainingCollection.Name)]
public class CheckpointWriteFailureTests(TrainingWorld world)
{
    [Fact]
    public void ARefusedCheckpointWriteNamesTheFolderAndKeepsTheLastOne()
    {
        var stage = TrainingWorld.Stage(1, 2) with { SaveEvery = 1 };
        using var dir = new TempDir();
        // The second checkpoint fails half-way, after its weights: its optimizer file's name is taken by a folder
        // (as on a full disk, a write fails). A stale sidecar keeps the start-up clean-up away from it.
        string second = TrainingCheckpoint.PathFor(dir.Path, 2);
        Directory.CreateDirectory(Path.Combine(second, TrainingCheckpoint.OptimizerFile));
        File.WriteAllText(Path.Combine(second, TrainingCheckpoint.StateFile), "{}");
        using var model = TrainingWorld.Model(stage, seed: 0);
        using var data = world.Stream(stage);
        using var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir.Path, Seed = 3 });

        var e = Assert.Throws<DeemStorageException>(() => trainer.Run());
        Assert.StartsWith(second + ": cannot write the checkpoint (", e.Message);
        Assert.EndsWith("the earlier checkpoints are kept", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(Directory.Exists(second));
        string first = TrainingCheckpoint.FindLatest(dir.Path);
        Assert.Equal(TrainingCheckpoint.PathFor(dir.Path, 1), first);
        Assert.Equal(1, TrainingCheckpoint.LoadState(first).Step);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*", SearchOption.AllDirectories));
    }
}

