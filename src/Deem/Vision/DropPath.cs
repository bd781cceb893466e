using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>
/// Stochastic depth (Huang et al. 2016) as timm's <c>DropPath</c>: in training, each sample's
/// residual branch is zeroed with probability <c>p</c> and otherwise scaled by 1/(1−p); identity in
/// eval. ConvNeXt uses it with a rate rising linearly over blocks (reference §1.2, §8 item 12).
/// The keep/drop draws come from <see cref="Generator"/> when one is given, so runs are seedable.
/// Holds no parameters and adds no state-dict keys.
/// </summary>
public sealed class DropPath : nn.Module<Tensor, Tensor>
{
    /// <summary>Drop probability of the branch.</summary>
    public double Rate { get; }

    /// <summary>Source of the drop decisions; the global CPU generator when null.</summary>
    public Generator? Generator { get; set; }

    public DropPath(double rate, Generator? generator = null) : base(nameof(DropPath))
    {
        if (rate is < 0.0 or >= 1.0)
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "drop-path rate must be in [0, 1)");
        Rate = rate;
        Generator = generator;
    }

    public override Tensor forward(Tensor x)
    {
        if (!training || Rate == 0.0)
            return x.alias();
        using var scope = NewDisposeScope();
        var keep = 1.0 - Rate;
        var shape = new long[x.ndim];
        Array.Fill(shape, 1L);
        shape[0] = x.shape[0];                                                // [B, 1, 1, 1]
        // Drawn on the CPU so one seeded generator serves every device.
        var u = rand(shape, dtype: ScalarType.Float32, device: CPU, generator: Generator);
        var mask = u.lt(keep).to(x.dtype).to(x.device).div(keep);
        return x.mul(mask).MoveToOuterDisposeScope();
    }
}
