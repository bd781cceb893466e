using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>
/// diffusers <c>Attention</c> over token sequences (keys <c>to_q, to_k, to_v, to_out.0</c>): multi-head
/// scaled dot-product attention, self-attention when no context is given (UNet <c>attn1</c>) and
/// cross-attention to the condition c of paper Eqs. 3/5 otherwise (UNet <c>attn2</c>, VAE mid block).
/// Softmax(QKᵀ/√d)V per head, then the output projection.
/// </summary>
public sealed class DiffusersAttention : nn.Module<Tensor, Tensor?, Tensor>
{
#pragma warning disable IDE0044
    private readonly Linear to_q;
    private readonly Linear to_k;
    private readonly Linear to_v;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> to_out;
#pragma warning restore IDE0044
    readonly long _heads;
    readonly long _headDim;

    /// <param name="queryDim">Width of the query tokens (and of the output).</param>
    /// <param name="contextDim">Width of the context tokens; null for self-attention.</param>
    /// <param name="heads">Number of heads.</param>
    /// <param name="headDim">Width of each head.</param>
    /// <param name="bias">Bias on to_q/to_k/to_v (false in the UNet, true in the VAE); to_out.0 always has one.</param>
    public DiffusersAttention(long queryDim, long? contextDim, long heads, long headDim, bool bias) : base(nameof(DiffusersAttention))
    {
        _heads = heads;
        _headDim = headDim;
        long inner = heads * headDim;
        to_q = nn.Linear(queryDim, inner, hasBias: bias);
        to_k = nn.Linear(contextDim ?? queryDim, inner, hasBias: bias);
        to_v = nn.Linear(contextDim ?? queryDim, inner, hasBias: bias);
        to_out = new ModuleList<nn.Module<Tensor, Tensor>>(nn.Linear(inner, queryDim), nn.Dropout(0.0));
        RegisterComponents();
    }

    /// <param name="x">[B, N, Dq] query tokens.</param>
    /// <param name="context">[B, M, Dc] context tokens, or null for self-attention.</param>
    /// <returns>[B, N, Dq]</returns>
    public override Tensor forward(Tensor x, Tensor? context)
    {
        using var scope = NewDisposeScope();
        var (B, N) = (x.shape[0], x.shape[1]);
        var ctx = context ?? x;
        long M = ctx.shape[1];
        if (ctx.shape[0] != B)
            throw new ArgumentException($"Attention: context batch {ctx.shape[0]} does not match query batch {B}");
        var q = to_q.forward(x).view(B, N, _heads, _headDim).transpose(1, 2);   // [B, nH, N, hD]
        var k = to_k.forward(ctx).view(B, M, _heads, _headDim).transpose(1, 2); // [B, nH, M, hD]
        var v = to_v.forward(ctx).view(B, M, _heads, _headDim).transpose(1, 2); // [B, nH, M, hD]
        var o = nn.functional.scaled_dot_product_attention(q, k, v);            // [B, nH, N, hD]
        o = o.transpose(1, 2).reshape(B, N, _heads * _headDim);                  // [B, N, nH·hD]
        foreach (var m in to_out) o = m.forward(o);                              // [B, N, Dq]
        return o.MoveToOuterDisposeScope();
    }
}
