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

/// <summary>One training stage as the dtype table needs it.</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Trainable">Parameters its freeze schedule trains.</param>
/// <param name="Batch">Sequences per step (per device).</param>
/// <param name="Tokens">Tokens per sequence (the stage's max_length).</param>
/// <param name="Recompute">The stage recomputes the LLM layers in backward (<c>gradient_checkpointing.llm</c>).</param>
public sealed record StageShape(string Stage, long Trainable, int Batch, int Tokens, bool Recompute = false);

/// <summary>The LLM's shape, which sets the activation estimate.</summary>
/// <param name="Layers">Decoder layers.</param>
/// <param name="Hidden">Hidden width h.</param>
/// <param name="Heads">Attention heads a.</param>
public sealed record LlmShape(int Layers, int Hidden, int Heads);

/// <summary>One stage's memory on one device with the frozen weights stored in <paramref name="DType"/>, in GiB.</summary>
/// <param name="Stage">The stage.</param>
/// <param name="DType">Storage dtype of the frozen weights and of the activations.</param>
/// <param name="Weights">Frozen parameters in the dtype + trainable ones in fp32 (they are the fp32 master weights).</param>
/// <param name="Gradients">fp32 gradients of the trainable parameters (4 B each).</param>
/// <param name="Optimizer">AdamW m and v in fp32 (8 B per trainable parameter).</param>
/// <param name="Activations">LLM activations kept for the backward at the stage's batch (see <see cref="StageMemoryPlan.ActivationBytes"/>).</param>
public sealed record StageMemoryRow(string Stage, string DType, double Weights, double Gradients, double Optimizer, double Activations)
{
    /// <summary>All four.</summary>
    public double Total => Weights + Gradients + Optimizer + Activations;
}

/// <summary>The per-stage, per-dtype table (one device, no sharding).</summary>
public static class StageMemoryPlan
{
    const double GiB = 1024.0 * 1024 * 1024;

    /// <summary>The dtypes of the table and their bytes per element.</summary>
    public static IReadOnlyList<(string Name, int Bytes)> DTypes { get; } = [("fp32", 4), ("bf16", 2), ("fp16", 2)];

    /// <summary>One row per stage × dtype (fp32, bf16, fp16).</summary>
    /// <param name="totalParameters">All parameters of the model.</param>
    /// <param name="stages">Each stage's trainable count and batch shape.</param>
    /// <param name="llm">The LLM's shape.</param>
    public static List<StageMemoryRow> Rows(long totalParameters, IReadOnlyList<StageShape> stages, LlmShape llm) =>
        stages.SelectMany(s => DTypes.Select(d => new StageMemoryRow(s.Stage, d.Name,
            Weights: ((totalParameters - s.Trainable) * (double)d.Bytes + s.Trainable * 4.0) / GiB,
            Gradients: s.Trainable * 4.0 / GiB,
            Optimizer: s.Trainable * 8.0 / GiB,
            Activations: ActivationBytes(llm, s.Batch, s.Tokens, d.Bytes, s.Recompute) / GiB))).ToList();

    /// <summary>
    /// Activations of the LLM's layers kept for the backward, without recomputation (Korthikanti et al. 2022,
    /// "Reducing Activation Recomputation in Large Transformer Models", §4.1): per layer s·b·h·(34 + 5·a·s/h)
    /// bytes with 16-bit activations, where s = tokens, b = batch, h = hidden, a = heads; scaled by
    /// <paramref name="bytes"/>/2 for other widths. With <paramref name="recompute"/> (full recomputation, §4.2) each
    /// layer keeps only its input, s·b·h elements, and one layer's activations live again during its backward.
    /// The image encoder, the Q-Formers and the UNet are not counted.
    /// </summary>
    public static double ActivationBytes(LlmShape llm, int batch, int tokens, int bytes, bool recompute = false)
    {
        double s = tokens, b = batch, h = llm.Hidden, a = llm.Heads;
        double perLayer = s * b * h * (34 + 5 * a * s / h) * bytes / 2.0;
        return recompute ? llm.Layers * s * b * h * bytes + perLayer : llm.Layers * perLayer;
    }
}
