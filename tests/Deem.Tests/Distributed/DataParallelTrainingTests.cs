using System.Text.RegularExpressions;

namespace Deem.Tests.Distributed;

/// <summary>
/// Data-parallel training under <c>mpirun -np 2</c> (tiny preset, stage 1 with CSR, 3 optimiser steps):
/// 2 ranks × batch 1 equal one rank × batch 1 × accumulation 2 (the same global batch of 2, the same
/// noise per global slot); ZeRO-1 equals plain data parallelism; a run stopped and resumed (on the same
/// or another number of ranks) equals the uninterrupted one; a rank that dies fails the job.
/// </summary>
[Collection(MpiCollection.Name)]
public class DataParallelTrainingTests(MpiJob job)
{
    static readonly string[] Three = ["--steps", "3", "--batch-size", "1"];

    [Fact]
    public void TwoRanksEqualOneRankWithTheSameGlobalBatch()
    {
        job.TrainOk(1, "one", [.. Three, "--grad-accum", "2"]);
        job.TrainOk(2, "two", [.. Three, "--grad-accum", "1"]);
        job.TrainOk(1, "one-step", ["--steps", "3", "--batch-size", "1", "--grad-accum", "2", "--stop-at", "1"]);
        Assert.True(job.MaxDifference("one", Path.Combine("one-step", "checkpoints", "step-0000001")) > 1e-4, "steps 2 and 3 must move the weights");
        Assert.True(job.MaxDifference("two", "one") <= 1e-5, $"2 ranks vs 1 rank: max |Δw| {job.MaxDifference("two", "one")}");

        job.TrainOk(2, "zero", [.. Three, "--zero1"]);
        Assert.True(job.MaxDifference("zero", "two") <= 1e-6, $"ZeRO-1 vs plain data parallel: max |Δw| {job.MaxDifference("zero", "two")}");
    }

    [Fact]
    public void StoppedAndResumedRunsEqualTheUninterruptedOne()
    {
        job.TrainOk(2, "whole", [.. Three]);
        job.TrainOk(2, "resumed", [.. Three, "--stop-at", "2"]);
        Assert.False(File.Exists(Path.Combine(job.Root, "resumed", "model.safetensors")), "a stopped run writes no final model folder");
        job.TrainOk(2, "resumed", ["--resume"]);
        Assert.True(job.MaxDifference("resumed", "whole") <= 1e-6, $"2 ranks resumed: max |Δw| {job.MaxDifference("resumed", "whole")}");

        // ZeRO-1 shards written by 2 ranks, re-sharded onto 1 rank that accumulates 2 micro-batches.
        job.TrainOk(2, "zero-resharded", [.. Three, "--zero1", "--stop-at", "2"]);
        job.TrainOk(1, "zero-resharded", ["--resume", "--zero1", "--grad-accum", "2"]);
        Assert.True(job.MaxDifference("zero-resharded", "whole") <= 1e-6, $"ZeRO-1 2 → 1 ranks: max |Δw| {job.MaxDifference("zero-resharded", "whole")}");
    }

    [Fact]
    public void ARankThatDiesFailsTheJob()
    {
        int? victim = null;
        var pidLine = new Regex(@"^rank 1 of 2 \(local \d+, pid (\d+)");
        var result = job.Train(2, "killed", ["--steps", "500", "--batch-size", "1"], line =>
        {
            var m = pidLine.Match(line);
            if (!m.Success || victim is not null) return;
            victim = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            System.Diagnostics.Process.GetProcessById(victim.Value).Kill();
        });
        Assert.NotNull(victim);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"{victim}", result.Output);
        Assert.False(File.Exists(Path.Combine(job.Root, "killed", "model.safetensors")));
    }
}
