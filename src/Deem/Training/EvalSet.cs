using System.Diagnostics;
using System.Text.Json.Serialization;
using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>
/// The loss terms of a model on an <see cref="EvalSet"/> at one step. Unlike the training metrics,
/// every term the model can compute is measured whatever its weight in the stage (the baseline's
/// CSR, for instance), with the same batches, noise and timesteps each time, so the curve moves only
/// when the parameters do. <see cref="Loss"/> weighs the terms as the stage does.
/// </summary>
public sealed record EvalMetrics : IStepRecord
{
    /// <summary>Optimiser steps done when measured (0 = the starting weights).</summary>
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("loss")] public double Loss { get; init; }
    [JsonPropertyName("ntp")] public double Ntp { get; init; }
    [JsonPropertyName("nip")] public double Nip { get; init; }
    [JsonPropertyName("csr")] public double Csr { get; init; }
    /// <summary>
    /// NTP with each batch's images rolled by one (every text gets another sample's image). Its gap
    /// over <see cref="Ntp"/> is how much the text predictions use the images: 0 means not at all.
    /// </summary>
    [JsonPropertyName("ntp_shuffled")] public double NtpShuffled { get; init; }
    /// <summary>
    /// Of the batches' "yes"/"no" answer labels, the share the model gets right teacher-forced (the larger of
    /// the two logits; <see cref="YesNoCount"/>); null when the batches hold none or the tokenizer has no
    /// single-token yes/no. On training batches it shows fitting; on a held-out <c>--eval-world</c>, whether the
    /// answers generalise, which the benchmarks score.
    /// </summary>
    [JsonPropertyName("yes_no_accuracy"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? YesNoAccuracy { get; init; }
    /// <summary>Of the same labels, the share where "yes" had the larger logit.</summary>
    [JsonPropertyName("yes_no_yes_ratio"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? YesNoYesRatio { get; init; }
    /// <summary>How many "yes"/"no" answer labels the batches hold (0 when not counted).</summary>
    [JsonPropertyName("yes_no_answers"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long YesNoAnswers { get; init; }
    [JsonPropertyName("batches")] public int Batches { get; init; }
    [JsonPropertyName("images")] public long Images { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
}

/// <summary>
/// Fixed evaluation batches for a training run: drawn once from a stream (the training data under
/// another shuffle seed, or a held-out world), then scored at fixed noise. The diffusion terms are
/// an ε-MSE at a random timestep (Eq. 3, Eq. 5), whose spread across draws is far larger than the
/// change a few hundred steps make; fixing the draws is what makes NIP and CSR curves readable.
/// </summary>
public sealed class EvalSet : IDisposable
{
    /// <summary>Seed of batch i's noise, timesteps and VAE posterior sample is <c>NoiseSeed + i</c>.</summary>
    public const ulong NoiseSeed = 20_240_601;

    readonly List<DeemBatch> _batches;
    readonly YesNoTokens? _yesNo;

    EvalSet(List<DeemBatch> batches, string source, YesNoTokens? yesNo) => (_batches, Source, _yesNo) = (batches, source, yesNo);

    /// <summary>Where the batches came from, for the log.</summary>
    public string Source { get; }
    public int Count => _batches.Count;
    /// <summary>The fixed batches (owned by this set).</summary>
    public IReadOnlyList<DeemBatch> Batches => _batches;

    /// <summary>
    /// Takes the next <paramref name="count"/> batches of <paramref name="stream"/> (which the caller still owns);
    /// with <paramref name="yesNo"/>, evaluations also score the batches' yes/no answers.
    /// </summary>
    public static EvalSet Draw(IBatchStream stream, int count, string source, YesNoTokens? yesNo = null)
    {
        if (count <= 0) throw new DeemConfigException(source, "eval_batches", $"must be > 0, found {count}");
        var batches = new List<DeemBatch>(count);
        for (int i = 0; i < count; i++) batches.Add(stream.Next());
        return new EvalSet(batches, source, yesNo);
    }

    /// <summary>
    /// Scores <paramref name="model"/> without gradients in eval mode (no stochastic depth, no CFG
    /// swap) and restores its mode. Draws only from its own generators, never torch's global one, so
    /// an evaluation leaves a training run's random state, and so its result, unchanged.
    /// </summary>
    public EvalMetrics Evaluate(DeemModel model, StageConfig stage, int step)
    {
        var clock = Stopwatch.StartNew();
        bool wasTraining = model.training;
        model.eval();
        double loss = 0, ntp = 0, nip = 0, csr = 0, ntpShuffled = 0;
        long images = 0;
        var yesNo = new YesNoCount();
        try
        {
            using var noGrad = no_grad();
            for (int i = 0; i < _batches.Count; i++)
            {
                using var scope = NewDisposeScope();
                using var g = new Generator(NoiseSeed + (ulong)i);
                var b = _batches[i];
                // Weight 1 on every term: each is measured; the stage's weights make the total below.
                var input = BatchInput.WithWeights(b, ntp: 1.0, nip: 1.0, csr: 1.0, g, device: model.Device);
                var o = model.forward(input);
                double tNtp = o.Ntp.item<float>(), tNip = o.Nip.item<float>(), tCsr = o.Csr.item<float>();
                double wNip = b.NipWeight ?? stage.NipWeight;
                loss += (b.NtpWeight ?? stage.NtpWeight) * tNtp + wNip * tNip + stage.CsrWeight * tCsr;
                (ntp, nip, csr) = (ntp + tNtp, nip + tNip, csr + tCsr);
                images += b.ImageCount;
                if (_yesNo is { } yn) yesNo += YesNoCount.Of(o.Logits, model.TextLabels(input), yn);   // NTP's own labels [B, L-1]

                // The same texts with another sample's images (rolled by one; a lone image stays).
                var rolled = b.ImageCount > 1 ? b.ImagesEnc.roll(1, 0) : b.ImagesEnc;                  // [I, 3, H, W]
                var masks = b.RegionMasks is { } m && b.ImageCount > 1 ? m.roll(1, 0) : b.RegionMasks;  // [I, 1, H, W]
                var s = model.forward(BatchInput.WithWeights(b, ntp: 1.0, nip: 0.0, csr: 0.0, imagesEnc: rolled, regionMasks: masks,
                    withDiffusionTargets: false, device: model.Device));
                ntpShuffled += s.Ntp.item<float>();
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        int n = _batches.Count;
        return new EvalMetrics
        {
            Step = step, Loss = loss / n, Ntp = ntp / n, Nip = nip / n, Csr = csr / n, NtpShuffled = ntpShuffled / n, Batches = n, Images = images,
            YesNoAccuracy = yesNo.Accuracy, YesNoYesRatio = yesNo.YesRatio, YesNoAnswers = yesNo.Total,
            Seconds = clock.Elapsed.TotalSeconds,
        };
    }

    public void Dispose()
    {
        foreach (var b in _batches) b.Dispose();
        _batches.Clear();
    }
}
