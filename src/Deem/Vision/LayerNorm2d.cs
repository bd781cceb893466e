using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>
/// timm <c>LayerNorm2d</c>: LayerNorm over the channel axis of an NCHW map (the ConvNeXt stem,
/// downsampling layers and pooled head, reference §1.2). Equal to permuting to channels-last,
/// applying an ordinary LayerNorm over C, and permuting back.
/// </summary>
public sealed class LayerNorm2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly long channels;
    private readonly double eps;

    public LayerNorm2d(long channels, double eps = 1e-6) : base(nameof(LayerNorm2d))
    {
        this.channels = channels;
        this.eps = eps;
        weight = nn.Parameter(ones(channels));
        bias = nn.Parameter(zeros(channels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        if (x.ndim != 4 || x.shape[1] != channels)
            throw new ArgumentException($"LayerNorm2d: expected x [B, {channels}, H, W], found [{string.Join(", ", x.shape)}]", nameof(x));
        var y = x.permute(0, 2, 3, 1);                                        // [B, H, W, C]
        y = nn.functional.layer_norm(y, [channels], weight, bias, eps);
        return y.permute(0, 3, 1, 2).MoveToOuterDisposeScope();               // [B, C, H, W]
    }
}
