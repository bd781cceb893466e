using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>
/// The VAE posterior q(z|x) = N(μ, diag σ²) (diffusers <c>DiagonalGaussianDistribution</c>): the moments
/// are split along channels into mean and log-variance, the log-variance clamped to [−30, 20].
/// DEEM encodes with a stochastic <see cref="Sample"/> (reference §1.9).
/// </summary>
public sealed class DiagonalGaussianDistribution : IDisposable
{
    /// <summary>[B, Cz, h, w] μ.</summary>
    public Tensor Mean { get; }

    /// <summary>[B, Cz, h, w] log σ², clamped to [−30, 20].</summary>
    public Tensor LogVar { get; }

    /// <summary>[B, Cz, h, w] σ = exp(½ log σ²).</summary>
    public Tensor Std { get; }

    /// <param name="moments">[B, 2·Cz, h, w]: mean channels first, then log-variance.</param>
    public DiagonalGaussianDistribution(Tensor moments)
    {
        if (moments.dim() != 4 || moments.shape[1] % 2 != 0)
            throw new ArgumentException($"moments: expected [B, 2·Cz, h, w], found [{string.Join(", ", moments.shape)}]");
        using var scope = NewDisposeScope();
        var parts = moments.chunk(2, 1);                 // 2 × [B, Cz, h, w]
        Mean = parts[0].MoveToOuterDisposeScope();
        LogVar = parts[1].clamp(-30.0, 20.0).MoveToOuterDisposeScope();
        Std = (LogVar * 0.5).exp().MoveToOuterDisposeScope();
    }

    /// <summary>z = μ + σ·ε, ε ~ N(0, I) drawn from <paramref name="generator"/> (the global generator when null).</summary>
    public Tensor Sample(Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var eps = randn(Mean.shape, dtype: Mean.dtype, device: Mean.device, generator: generator);
        return (Mean + Std * eps).MoveToOuterDisposeScope();
    }

    /// <summary>The mode of q(z|x), i.e. μ.</summary>
    public Tensor Mode() => Mean.alias();

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
        Std.Dispose();
    }
}
