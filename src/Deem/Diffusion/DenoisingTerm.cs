using Deem.Diffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>
/// The random draws of one denoising-loss term (the inner term of paper Eqs. 3 and 5), drawn before the
/// term is evaluated so that the fused and the separate evaluation see the same numbers.
/// </summary>
/// <param name="LatentNoise">[I, Cz, h, w] ε_z of the VAE posterior sample z = μ + σ·ε_z.</param>
/// <param name="Noise">[I, Cz, h, w] ε of x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε.</param>
/// <param name="Timesteps">[I] int64 t: U{0, …, T−1}, or squeezed to [200, 799] for CSR (reference §2.3).</param>
public sealed record DenoisingDraws(Tensor LatentNoise, Tensor Noise, Tensor Timesteps) : IDisposable
{
    /// <summary>Draws ε_z, ε and t in this order from <paramref name="generator"/> (the order the separate evaluation always used).</summary>
    /// <param name="latentShape">[I, Cz, h, w] of the scaled latents.</param>
    /// <param name="numTrainTimesteps">T of the scheduler.</param>
    /// <param name="squeeze">CSR's t' = round((t − 500)·0.6 + 500).</param>
    /// <param name="generator">The source of randomness (the global generator when null).</param>
    /// <param name="device">Where the draws live. They are drawn on the CPU (the generator is a host
    /// generator) and moved, so one seed gives the same draws on every device.</param>
    public static DenoisingDraws Sample(long[] latentShape, long numTrainTimesteps, bool squeeze, Generator? generator, Device device)
    {
        using var scope = NewDisposeScope();
        var latentNoise = randn(latentShape, dtype: ScalarType.Float32, device: CPU, generator: generator);      // [I, Cz, h, w]
        var noise = randn(latentShape, dtype: ScalarType.Float32, device: CPU, generator: generator);            // [I, Cz, h, w]
        var t = randint(0, numTrainTimesteps, new[] { latentShape[0] }, generator: generator,
            dtype: ScalarType.Int64, device: CPU);                                                             // [I]
        if (squeeze) t = CsrTimesteps.Squeeze(t);
        return new DenoisingDraws(latentNoise.to(device).MoveToOuterDisposeScope(), noise.to(device).MoveToOuterDisposeScope(),
            t.to(device).MoveToOuterDisposeScope());
    }

    /// <summary>The draws of the images at <paramref name="rows"/> ([I'] int64), in that order.</summary>
    public DenoisingDraws Select(Tensor rows) =>
        new(LatentNoise.index_select(0, rows), Noise.index_select(0, rows), Timesteps.index_select(0, rows));

    public void Dispose()
    {
        LatentNoise.Dispose();
        Noise.Dispose();
        Timesteps.Dispose();
    }
}

/// <summary>
/// One denoising term over the I target images, or over the I' of them at <paramref name="Rows"/>: its
/// UNet condition, the MMFSNet features and mask, and its draws. NIP (Eq. 3) and CSR (Eq. 5) are two
/// such terms; NIP denoises only the images whose loss it keeps (those with context).
/// </summary>
/// <param name="Condition">[I', M, D_cond] the UNet's encoder_hidden_states.</param>
/// <param name="Features">One [I', N, C, h_l, w_l] per encoder level for MMFSNet, or null for none.</param>
/// <param name="FeatureMask">[I', N], 0 where there is no conditioning image.</param>
/// <param name="Draws">ε_z, ε and t of this term, [I', …].</param>
/// <param name="Rows">[I'] int64: which of the I images the term denoises, in order; null = all of them (I' = I).</param>
public sealed record DenoisingTerm(Tensor Condition, Tensor[]? Features, Tensor? FeatureMask, DenoisingDraws Draws, Tensor? Rows = null);
