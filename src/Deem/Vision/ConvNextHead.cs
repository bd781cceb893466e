using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>
/// timm <c>NormMlpClassifierHead</c> of ConvNeXt as open_clip keeps it with <c>timm_pool: ""</c> and
/// no classifier (reference §1.2): global average pool → LayerNorm2d (<c>norm</c>) → flatten.
/// DEEM feeds its output to <c>adapter_cls</c> to make the CLS token.
/// </summary>
public sealed class ConvNextHead : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm2d norm;

    public ConvNextHead(long channels, double eps) : base(nameof(ConvNextHead))
    {
        norm = new LayerNorm2d(channels, eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (B, C) = (x.shape[0], x.shape[1]);
        var pooled = x.mean([2, 3], keepdim: true);                           // [B, C, 1, 1]
        return norm.forward(pooled).reshape(B, C).MoveToOuterDisposeScope();  // [B, C]
    }
}
