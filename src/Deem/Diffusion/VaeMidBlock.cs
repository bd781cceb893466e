using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>
/// diffusers <c>UNetMidBlock2D</c> as used by the VAE encoder and decoder: <c>resnets.0</c> →
/// <c>attentions.0</c> (single-head spatial self-attention) → <c>resnets.1</c>, without time embedding.
/// </summary>
public sealed class VaeMidBlock : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<VaeAttentionBlock> attentions;
#pragma warning restore IDE0044

    public VaeMidBlock(long channels, long groups) : base("UNetMidBlock2D")
    {
        resnets = new ModuleList<ResnetBlock2D>(
            new ResnetBlock2D(channels, channels, null, groups, 1e-6),
            new ResnetBlock2D(channels, channels, null, groups, 1e-6));
        attentions = new ModuleList<VaeAttentionBlock>(new VaeAttentionBlock(channels, groups));
        RegisterComponents();
    }

    /// <param name="x">[B, C, H, W]</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = resnets[0].forward(x, null);
        h = attentions[0].forward(h);
        h = resnets[1].forward(h, null);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The VAE's spatial self-attention (diffusers <c>Attention</c> with <c>group_norm</c>, one head of width C,
/// biased projections and a residual; keys <c>group_norm, to_q, to_k, to_v, to_out.0</c>). Checkpoints
/// written before diffusers 0.14 name these <c>query, key, value, proj_attn</c>.
/// </summary>
public sealed class VaeAttentionBlock : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly GroupNorm group_norm;
    private readonly Linear to_q;
    private readonly Linear to_k;
    private readonly Linear to_v;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> to_out;
#pragma warning restore IDE0044

    public VaeAttentionBlock(long channels, long groups) : base("Attention")
    {
        group_norm = Norms.GroupNorm(groups, channels, 1e-6);
        to_q = nn.Linear(channels, channels);
        to_k = nn.Linear(channels, channels);
        to_v = nn.Linear(channels, channels);
        to_out = new ModuleList<nn.Module<Tensor, Tensor>>(nn.Linear(channels, channels), nn.Dropout(0.0));
        RegisterComponents();
    }

    /// <param name="x">[B, C, H, W]</param>
    /// <returns>[B, C, H, W]</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var h = group_norm.forward(x).view(B, C, H * W).transpose(1, 2);        // [B, HW, C]
        var q = to_q.forward(h).unsqueeze(1);                                    // [B, 1, HW, C]
        var k = to_k.forward(h).unsqueeze(1);                                    // [B, 1, HW, C]
        var v = to_v.forward(h).unsqueeze(1);                                    // [B, 1, HW, C]
        var o = nn.functional.scaled_dot_product_attention(q, k, v).squeeze(1);  // [B, HW, C]
        foreach (var m in to_out) o = m.forward(o);                              // [B, HW, C]
        o = o.transpose(1, 2).reshape(B, C, H, W);                               // [B, C, H, W]
        return (o + x).MoveToOuterDisposeScope();
    }
}
