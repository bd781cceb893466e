using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>The one place a collated <see cref="DeemBatch"/> becomes the model's <see cref="DeemInput"/>.</summary>
public static class BatchInput
{
    /// <summary>
    /// The batch with the stage's objective weights, the batch's own NTP/NIP overrides taking
    /// precedence (the SFT collators' per-data-set weights), as a training step uses it.
    /// </summary>
    public static DeemInput ForStage(DeemBatch batch, StageConfig stage, Generator? generator) =>
        WithWeights(batch, batch.NtpWeight ?? stage.NtpWeight, batch.NipWeight ?? stage.NipWeight, stage.CsrWeight, generator);

    /// <summary>
    /// The batch with explicit objective weights. <paramref name="imagesEnc"/> and
    /// <paramref name="regionMasks"/> replace the batch's encoder views (e.g. rolled by one to measure
    /// image reliance); <paramref name="withDiffusionTargets"/> false leaves out the decoder views, so no
    /// diffusion term is computed.
    /// </summary>
    public static DeemInput WithWeights(DeemBatch batch, double ntp, double nip, double csr, Generator? generator = null,
        Tensor? imagesEnc = null, Tensor? regionMasks = null, bool withDiffusionTargets = true) =>
        new(batch.Ids, batch.AttentionMask, imagesEnc ?? batch.ImagesEnc, withDiffusionTargets ? batch.ImagesDec : null,
            regionMasks ?? batch.RegionMasks, batch.PromptOffsets, batch.GtTextIds,
            NtpWeight: ntp, NipWeight: nip, CsrWeight: csr, Generator: generator);
}
