using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Diffusion;

/// <summary>
/// diffusers <c>Transformer2DModel</c> (continuous input, one block): the spatial transformer of SD's
/// cross-attention UNet blocks, where the condition c (LLM context for NIP, image code for CSR — paper
/// Eqs. 3/5) enters the denoiser. GroupNorm → <c>proj_in</c> → <c>transformer_blocks</c> →
/// <c>proj_out</c>, plus the input as residual. proj_in/proj_out are Linear on tokens when
/// <c>use_linear_projection</c> (SD-2) and 1×1 convolutions otherwise (SD-1).
/// </summary>
public sealed class Transformer2DModel : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly GroupNorm norm;
    private readonly nn.Module<Tensor, Tensor> proj_in;
    private readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    private readonly nn.Module<Tensor, Tensor> proj_out;
#pragma warning restore IDE0044
    readonly bool _linear;
    readonly long _inner;

    public Transformer2DModel(long channels, long heads, long crossAttentionDim, long groups, bool useLinearProjection)
        : base(nameof(Transformer2DModel))
    {
        _linear = useLinearProjection;
        long headDim = channels / heads;
        _inner = heads * headDim;
        norm = Norms.GroupNorm(groups, channels, 1e-6);
        proj_in = useLinearProjection ? nn.Linear(channels, _inner) : nn.Conv2d(channels, _inner, 1);
        transformer_blocks = new ModuleList<BasicTransformerBlock>(
            new BasicTransformerBlock(_inner, heads, headDim, crossAttentionDim));
        proj_out = useLinearProjection ? nn.Linear(_inner, channels) : nn.Conv2d(_inner, channels, 1);
        RegisterComponents();
    }

    /// <param name="x">[B, C, H, W] feature map.</param>
    /// <param name="context">[B, M, Dc] condition tokens (encoder_hidden_states).</param>
    /// <returns>[B, C, H, W]</returns>
    public override Tensor forward(Tensor x, Tensor context)
    {
        using var scope = NewDisposeScope();
        var (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var h = norm.forward(x);
        if (_linear)
        {
            h = h.permute(0, 2, 3, 1).reshape(B, H * W, C);       // [B, HW, C]
            h = proj_in.forward(h);                                // [B, HW, inner]
        }
        else
        {
            h = proj_in.forward(h);                                // [B, inner, H, W]
            h = h.permute(0, 2, 3, 1).reshape(B, H * W, _inner);  // [B, HW, inner]
        }
        foreach (var block in transformer_blocks) h = block.forward(h, context);
        if (_linear)
        {
            h = proj_out.forward(h);                                         // [B, HW, C]
            h = h.reshape(B, H, W, C).permute(0, 3, 1, 2).contiguous();      // [B, C, H, W]
        }
        else
        {
            h = h.reshape(B, H, W, _inner).permute(0, 3, 1, 2).contiguous(); // [B, inner, H, W]
            h = proj_out.forward(h);                                         // [B, C, H, W]
        }
        return (h + x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers <c>BasicTransformerBlock</c> (pre-LayerNorm): self-attention <c>attn1</c>, cross-attention
/// <c>attn2</c> to the condition, and a GEGLU feed-forward <c>ff</c>, each with a residual.
/// </summary>
public sealed class BasicTransformerBlock : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly LayerNorm norm1;
    private readonly DiffusersAttention attn1;
    private readonly LayerNorm norm2;
    private readonly DiffusersAttention attn2;
    private readonly LayerNorm norm3;
    private readonly FeedForward ff;
#pragma warning restore IDE0044

    public BasicTransformerBlock(long dim, long heads, long headDim, long crossAttentionDim) : base(nameof(BasicTransformerBlock))
    {
        norm1 = nn.LayerNorm(dim);
        attn1 = new DiffusersAttention(dim, null, heads, headDim, bias: false);
        norm2 = nn.LayerNorm(dim);
        attn2 = new DiffusersAttention(dim, crossAttentionDim, heads, headDim, bias: false);
        norm3 = nn.LayerNorm(dim);
        ff = new FeedForward(dim, 4 * dim);
        RegisterComponents();
    }

    /// <param name="x">[B, N, D] tokens.</param>
    /// <param name="context">[B, M, Dc] condition tokens.</param>
    public override Tensor forward(Tensor x, Tensor context)
    {
        using var scope = NewDisposeScope();
        var h = attn1.forward(norm1.forward(x), null) + x;
        h = attn2.forward(norm2.forward(h), context) + h;
        h = ff.forward(norm3.forward(h)) + h;
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers <c>FeedForward</c> with GEGLU activation (keys <c>net.0.proj</c>, <c>net.2</c>):
/// [a, g] = proj(x); y = Linear(a ⊙ GELU(g)).
/// </summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly ModuleList<nn.Module<Tensor, Tensor>> net;
#pragma warning restore IDE0044

    public FeedForward(long dim, long inner) : base(nameof(FeedForward))
    {
        net = new ModuleList<nn.Module<Tensor, Tensor>>(new Geglu(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim));
        RegisterComponents();
    }

    /// <param name="x">[B, N, D]</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var m in net) x = m.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers <c>GEGLU</c> (Shazeer 2020): one projection to 2·inner, value half gated by GELU of the other.</summary>
public sealed class Geglu : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly Linear proj;
#pragma warning restore IDE0044

    public Geglu(long dim, long inner) : base("GEGLU")
    {
        proj = nn.Linear(dim, 2 * inner);
        RegisterComponents();
    }

    /// <param name="x">[B, N, D]</param>
    /// <returns>[B, N, inner]</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var parts = proj.forward(x).chunk(2, -1); // 2 × [B, N, inner]
        return (parts[0] * F.gelu(parts[1])).MoveToOuterDisposeScope();
    }
}
