namespace Deem.Distributed;

/// <summary>Model-state memory of one rank (activations and workspace not counted), in GiB.</summary>
/// <param name="Stage">The freeze schedule the trainable count comes from.</param>
/// <param name="Precision">"fp32" (DeemSharp's trainer) or "fp16 mixed" (the authors' DeepSpeed run).</param>
/// <param name="Ranks">Data-parallel ranks.</param>
/// <param name="Zero1">Whether the optimiser state is sharded across the ranks.</param>
/// <param name="Weights">All parameters (fp32: 4 B each; fp16: 2 B).</param>
/// <param name="Gradients">Trainable parameters' gradients (4 B or 2 B each).</param>
/// <param name="Optimizer">AdamW m and v (8 B per trainable parameter), plus fp32 master weights under fp16 (12 B); ÷ ranks under ZeRO-1.</param>
/// <param name="StepBuffers">DeemSharp's ZeRO-1 step, transient: the rank's gradient and parameter slices (8 B per trainable parameter ÷ ranks) and one collective bucket (25 M floats); 0 elsewhere.</param>
public sealed record MemoryRow(string Stage, string Precision, int Ranks, bool Zero1, double Weights, double Gradients, double Optimizer, double StepBuffers)
{
    /// <summary>Peak model-state memory of the rank.</summary>
    public double Total => Weights + Gradients + Optimizer + StepBuffers;
}

/// <summary>
/// The per-rank model-state memory of data-parallel training (ZeRO paper, §3: 2Ψ + 2Ψ + 12Ψ bytes for
/// fp16 mixed precision, the optimiser's 12Ψ divided by the ranks under stage 1), for DeemSharp's
/// fp32 trainer and for the authors' fp16 DeepSpeed run (32 × A100-80GB, ZeRO-1).
/// </summary>
public static class MemoryPlan
{
    const double GiB = 1024.0 * 1024 * 1024;

    /// <summary>One row per stage × precision × ranks × ZeRO-1 off/on.</summary>
    /// <param name="totalParameters">All parameters of the model.</param>
    /// <param name="stages">Each stage's name and trainable parameter count.</param>
    /// <param name="ranks">The world sizes to plan for.</param>
    public static List<MemoryRow> Rows(long totalParameters, IReadOnlyList<(string Stage, long Trainable)> stages, IReadOnlyList<int> ranks)
    {
        if (ranks.Any(r => r < 1)) throw new DeemConfigException("--ranks", "ranks", $"every rank count must be >= 1, found {string.Join(",", ranks)}");
        var rows = new List<MemoryRow>();
        foreach (var (stage, trainable) in stages)
            foreach (var (precision, weightBytes, optimizerBytes) in new[] { ("fp32", 4.0, 8.0), ("fp16 mixed", 2.0, 12.0) })
                foreach (int n in ranks)
                    foreach (bool zero in new[] { false, true })
                        rows.Add(new MemoryRow(stage, precision, n, zero,
                            Weights: totalParameters * weightBytes / GiB,
                            Gradients: trainable * weightBytes / GiB,
                            Optimizer: trainable * optimizerBytes / (zero ? n : 1) / GiB,
                            StepBuffers: zero && precision == "fp32" ? (trainable * 8.0 / n + DataParallel.BucketElements * 4.0) / GiB : 0));
        return rows;
    }
}
