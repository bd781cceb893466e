using Deem.Config;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>Input of one self-attention call.</summary>
/// <param name="Hidden">[B, L, D] normalised hidden states of the new tokens.</param>
/// <param name="Cos">[B, 1, L, hD] RoPE cosines at the new tokens' positions (<see cref="Rope.ForHeads"/>).</param>
/// <param name="Sin">[B, 1, L, hD] RoPE sines, first half negated (<see cref="Rope.ForHeads"/>).</param>
/// <param name="Mask">[B, 1, L, P+L] additive mask (0 or a large negative), or null for no mask (one new token).</param>
/// <param name="Cache">Keys/values of earlier steps; this step's are appended.</param>
public sealed record LlamaAttentionInput(Tensor Hidden, Tensor Cos, Tensor Sin, Tensor? Mask, KvCache? Cache);

/// <summary>
/// LLaMA multi-head self-attention (reference §1.6) with RoPE on queries and keys, grouped-query
/// key/value heads (<c>num_key_value_heads</c>) and an optional KV cache. Keys: <c>q_proj</c>,
/// <c>k_proj</c>, <c>v_proj</c>, <c>o_proj</c> (no biases in LLaMA-2).
/// </summary>
public sealed class LlamaAttention : nn.Module<LlamaAttentionInput, Tensor>
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly int layerIndex;
    private readonly int numHeads;
    private readonly int numKvHeads;
    private readonly int headDim;

    public LlamaAttention(LlamaConfig config, int layerIndex) : base(nameof(LlamaAttention))
    {
        numHeads = config.NumAttentionHeads;
        numKvHeads = config.KeyValueHeads;
        headDim = config.HeadDim;
        this.layerIndex = layerIndex;
        var d = config.HiddenSize;
        q_proj = nn.Linear(d, numHeads * headDim, hasBias: config.AttentionBias);
        k_proj = nn.Linear(d, numKvHeads * headDim, hasBias: config.AttentionBias);
        v_proj = nn.Linear(d, numKvHeads * headDim, hasBias: config.AttentionBias);
        o_proj = nn.Linear(numHeads * headDim, d, hasBias: config.AttentionBias);
        RegisterComponents();
    }

    public override Tensor forward(LlamaAttentionInput input)
    {
        using var scope = NewDisposeScope();
        var x = input.Hidden;
        var (B, L) = (x.shape[0], x.shape[1]);

        var q = q_proj.forward(x).view(B, L, numHeads, headDim).transpose(1, 2);     // [B, nH, L, hD]
        var k = k_proj.forward(x).view(B, L, numKvHeads, headDim).transpose(1, 2);   // [B, nKV, L, hD]
        var v = v_proj.forward(x).view(B, L, numKvHeads, headDim).transpose(1, 2);   // [B, nKV, L, hD]
        q = Rope.ApplyForHeads(q, input.Cos, input.Sin);
        k = Rope.ApplyForHeads(k, input.Cos, input.Sin);

        if (input.Cache is not null)
            (k, v) = input.Cache.Append(layerIndex, k, v);                           // [B, nKV, P+L, hD]

        k = RepeatKv(k);                                                             // [B, nH, P+L, hD]
        v = RepeatKv(v);                                                             // [B, nH, P+L, hD]

        var attn = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: input.Mask); // [B, nH, L, hD]
        attn = attn.transpose(1, 2).reshape(B, L, numHeads * headDim);               // [B, L, nH·hD]
        return o_proj.forward(attn).MoveToOuterDisposeScope();                       // [B, L, D]
    }

    /// <summary>[B, nKV, T, hD] → [B, nH, T, hD], each key/value head shared by nH/nKV query heads.</summary>
    private Tensor RepeatKv(Tensor kv)
    {
        var rep = numHeads / numKvHeads;
        if (rep == 1) return kv;
        var (B, T) = (kv.shape[0], kv.shape[2]);
        return kv.unsqueeze(2)                                  // [B, nKV, 1, T, hD]
            .expand(B, numKvHeads, rep, T, headDim)             // [B, nKV, rep, T, hD]
            .reshape(B, numHeads, T, headDim);                  // [B, nH, T, hD]
    }
}
