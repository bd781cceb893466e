using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>
/// The one place a collated <see cref="DeemBatch"/> becomes the model's <see cref="DeemInput"/>. The
/// collator builds batches on the CPU; they move to the model's device here.
/// </summary>
public static class BatchInput
{
    /// <summary>
    /// The batch with the stage's objective weights, the batch's own NTP/NIP overrides taking
    /// precedence (the SFT collators' per-data-set weights), as a training step uses it.
    /// </summary>
    /// <param name="batch">The collated batch (on the CPU).</param>
    /// <param name="stage">The stage whose objective weights apply.</param>
    /// <param name="generator">The source of the diffusion terms' draws (on <paramref name="device"/>).</param>
    /// <param name="device">The model's device; null keeps the batch where it is.</param>
    public static DeemInput ForStage(DeemBatch batch, StageConfig stage, Generator? generator, Device? device = null) =>
        WithWeights(batch, batch.NtpWeight ?? stage.NtpWeight, batch.NipWeight ?? stage.NipWeight, stage.CsrWeight, generator,
            device: device);

    /// <summary>
    /// The batch with explicit objective weights. <paramref name="imagesEnc"/> and
    /// <paramref name="regionMasks"/> replace the batch's encoder views (e.g. rolled by one to measure
    /// image reliance); <paramref name="withDiffusionTargets"/> false leaves out the decoder views, so no
    /// diffusion term is computed.
    /// </summary>
    /// <param name="batch">The collated batch (on the CPU).</param>
    /// <param name="ntp">λ_NTP.</param>
    /// <param name="nip">λ_NIP.</param>
    /// <param name="csr">λ_CSR.</param>
    /// <param name="generator">The source of the diffusion terms' draws.</param>
    /// <param name="imagesEnc">Encoder views replacing the batch's, or null.</param>
    /// <param name="regionMasks">Region masks replacing the batch's, or null.</param>
    /// <param name="withDiffusionTargets">Whether the decoder views (NIP/CSR targets) are passed.</param>
    /// <param name="device">The model's device; null keeps the batch where it is.</param>
    public static DeemInput WithWeights(DeemBatch batch, double ntp, double nip, double csr, Generator? generator = null,
        Tensor? imagesEnc = null, Tensor? regionMasks = null, bool withDiffusionTargets = true, Device? device = null)
    {
        Tensor On(Tensor t) => device is null ? t : t.to(device);
        Tensor? OnOrNull(Tensor? t) => t is null ? null : On(t);
        return new(On(batch.Ids), On(batch.AttentionMask), On(imagesEnc ?? batch.ImagesEnc),
            withDiffusionTargets ? OnOrNull(batch.ImagesDec) : null, OnOrNull(regionMasks ?? batch.RegionMasks),
            batch.PromptOffsets, OnOrNull(batch.GtTextIds), NtpWeight: ntp, NipWeight: nip, CsrWeight: csr, Generator: generator);
    }
}
