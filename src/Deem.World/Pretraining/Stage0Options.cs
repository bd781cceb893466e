namespace Deem.World.Pretraining;

/// <summary>
/// Settings of stage 0, the pretraining that stands in for the released checkpoints DEEM starts from
/// (CLIP-ConvNeXt, Vicuna, SD 2.1; paper §3.1, reference §1.2, §1.6, §1.9): steps per component, batch
/// size, seed, learning rates. The defaults train the four tiny components in a few minutes on 2 CPU
/// cores at 64 px.
/// </summary>
public sealed record Stage0Options
{
    public int ClipSteps { get; init; } = 3000;
    public int LlmSteps { get; init; } = 400;
    /// <summary>
    /// VAE steps: at 100 its latents were 90 % posterior noise and the UNet trained on them read no condition; at 400
    /// (64 px) they are 94.5 % the images' and the UNet's caption gap is 1.6 % (docs/experiments.md §2.13).
    /// </summary>
    public int VaeSteps { get; init; } = 400;
    public int UNetSteps { get; init; } = 500;

    /// <summary>Pairs per CLIP batch (the contrastive negatives) and latents per UNet batch.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Windows per LLM batch.</summary>
    public int LlmBatchSize { get; init; } = 16;

    /// <summary>Images per VAE batch (the VAE runs at full resolution and is the costliest per image).</summary>
    public int VaeBatchSize { get; init; } = 8;

    public int Seed { get; init; }

    /// <summary>
    /// Keep the components already complete in the output folder (<see cref="Stage0Resume"/>) and train the rest;
    /// without it every component is trained and the folder's are overwritten.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Resume { get; init; }

    /// <summary>Image side the components train at (the tiny DEEM's encoder and decoder resolution).</summary>
    public int Resolution { get; init; } = 64;

    /// <summary>Tokens per LLM training window (documents are packed).</summary>
    public int LlmSequenceLength { get; init; } = 64;

    public double ClipLearningRate { get; init; } = 1e-3;
    public double LlmLearningRate { get; init; } = 3e-3;
    public double VaeLearningRate { get; init; } = 2e-3;
    public double UNetLearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Share of each component's steps spent on linear warm-up before the cosine decay.</summary>
    public double WarmupFraction { get; init; } = 0.05;

    /// <summary>Global gradient-norm clip.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Weight of the per-latent-element KL term of the VAE (a small KL, as SD's VAE).</summary>
    public double VaeKlWeight { get; init; } = 1e-4;

    /// <summary>Share of captions replaced by the empty prompt while training the UNet (classifier-free guidance).</summary>
    public double UNetUncondProb { get; init; } = 0.1;

    /// <summary>Throws <see cref="DeemConfigException"/> (naming the setting) for impossible values.</summary>
    public void Validate()
    {
        static void Require(bool ok, string field, string message)
        {
            if (!ok) throw new DeemConfigException("stage 0", field, message);
        }
        foreach (var (v, n) in new[] { (ClipSteps, nameof(ClipSteps)), (LlmSteps, nameof(LlmSteps)), (VaeSteps, nameof(VaeSteps)), (UNetSteps, nameof(UNetSteps)) })
            Require(v >= 0, n, $"must be ≥ 0, found {v}");
        Require(BatchSize >= 2, nameof(BatchSize), $"must be ≥ 2 (CLIP needs negatives), found {BatchSize}");
        Require(LlmBatchSize >= 1 && VaeBatchSize >= 1, "LlmBatchSize/VaeBatchSize", $"must be ≥ 1, found {LlmBatchSize}, {VaeBatchSize}");
        Require(Resolution >= 32 && Resolution % 32 == 0, nameof(Resolution), $"must be a positive multiple of 32, found {Resolution}");
        Require(LlmSequenceLength >= 2, nameof(LlmSequenceLength), $"must be ≥ 2, found {LlmSequenceLength}");
        Require(WarmupFraction is >= 0 and < 1, nameof(WarmupFraction), $"must be in [0, 1), found {WarmupFraction}");
        Require(MaxGradNorm > 0, nameof(MaxGradNorm), $"must be > 0, found {MaxGradNorm}");
        Require(UNetUncondProb is >= 0 and <= 1, nameof(UNetUncondProb), $"must be in [0, 1], found {UNetUncondProb}");
    }
}

/// <summary>One optimisation step of a stage-0 component, for progress bars and JSONL metrics.</summary>
/// <param name="Component">"clip", "llm", "vae" or "unet".</param>
/// <param name="Step">1-based step just finished.</param>
/// <param name="TotalSteps">Steps this component runs.</param>
/// <param name="Loss">The step's training loss.</param>
/// <param name="LearningRate">Learning rate used for the step.</param>
/// <param name="GradNorm">Gradient norm before clipping.</param>
/// <param name="ItPerSec">Steps per second so far.</param>
/// <param name="Seconds">Wall time since the component started.</param>
public sealed record Stage0Step(string Component, int Step, int TotalSteps, double Loss, double LearningRate, double GradNorm, double ItPerSec, double Seconds);

/// <summary>Callbacks of the stage-0 loops: <paramref name="Progress"/> to draw a bar, <paramref name="Metrics"/> to log each step.</summary>
public sealed record Stage0Callbacks(Action<Stage0Step>? Progress = null, Action<Stage0Step>? Metrics = null)
{
    public static Stage0Callbacks None { get; } = new();
}

/// <summary>What one component's training did.</summary>
/// <param name="Component">clip, llm, vae or unet.</param>
/// <param name="Steps">Optimiser steps taken.</param>
/// <param name="FirstLoss">Loss of the first step.</param>
/// <param name="LastLoss">Loss of the last step.</param>
/// <param name="Seconds">Wall time of the component's training.</param>
/// <param name="Losses">Every step's loss, in order.</param>
public sealed record ComponentResult(string Component, int Steps, double FirstLoss, double LastLoss, double Seconds, IReadOnlyList<double> Losses)
{
    /// <summary>Mean of the first <paramref name="n"/> losses.</summary>
    public double HeadMean(int n) => Losses.Take(n).DefaultIfEmpty(double.NaN).Average();

    /// <summary>Mean of the last <paramref name="n"/> losses.</summary>
    public double TailMean(int n) => Losses.Skip(Math.Max(0, Losses.Count - n)).DefaultIfEmpty(double.NaN).Average();
}
