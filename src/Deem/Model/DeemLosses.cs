using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>Reductions of the diffusion losses (paper Eqs. 3 and 5; reference §2.2, §2.3).</summary>
public static class DeemLosses
{
    /// <summary>
    /// CSR's reduction: the mean of the per-element squared error; in region mode (stage 3) each
    /// image's error is multiplied by its mask at latent resolution and rescaled by
    /// (latent pixels / mask pixels), so it is a masked mean and the outside weighs 0.
    /// </summary>
    /// <param name="err">[I, C, h, w] per-element squared error.</param>
    /// <param name="regionMasks">[I, 1, H, W] region masks, or null for whole images.</param>
    public static Tensor MaskedMean(Tensor err, Tensor? regionMasks)
    {
        if (regionMasks is null) return err.mean();
        using var scope = NewDisposeScope();
        var (h, w) = (err.shape[2], err.shape[3]);
        var m = nn.functional.interpolate(regionMasks.to(err.dtype), new long[] { h, w },
            mode: InterpolationMode.Bilinear, align_corners: false).gt(0).to(err.dtype);          // [I, 1, h, w]
        var scale = (h * w) / m.sum(new long[] { 1, 2, 3 }, keepdim: true).clamp_min(1.0);          // [I, 1, 1, 1]
        return (err * m * scale).mean().MoveToOuterDisposeScope();
    }
}
