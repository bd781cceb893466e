using Deem.Config;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>Input of one decoder layer.</summary>
/// <param name="Hidden">[B, L, D] residual stream of the new tokens.</param>
/// <param name="Cos">[B, 1, L, hD] RoPE cosines (<see cref="Rope.ForHeads"/>).</param>
/// <param name="Sin">[B, 1, L, hD] RoPE sines, first half negated (<see cref="Rope.ForHeads"/>).</param>
/// <param name="Mask">[B, 1, L, P+L] additive self-attention mask, or null.</param>
/// <param name="Cache">KV cache, or null.</param>
/// <param name="Vision">Image states for the cross-attention, with <c>Visible</c> rows for the new tokens; null for text only.</param>
public sealed record LlamaLayerInput(Tensor Hidden, Tensor Cos, Tensor Sin, Tensor? Mask, KvCache? Cache, MmfsVisionStates? Vision);

/// <summary>
/// One LLaMA decoder layer with DEEM's gated MMFS cross-attention slot (reference §1.6):
/// <c>h += SelfAttn(RMSNorm(h))</c>; on cross-attention layers with vision states,
/// <c>h = CrossAttn(h, vision)</c> (the block adds its own <c>tanh(gate)·MMFS(...)</c> residual);
/// then <c>h += MLP(RMSNorm(h))</c>. Keys: <c>self_attn</c>, <c>mlp</c>, <c>input_layernorm</c>,
/// <c>post_attention_layernorm</c>, and <c>llama_cross_attn</c> on the layers that carry one.
/// </summary>
public sealed class LlamaDecoderLayer : nn.Module<LlamaLayerInput, Tensor>
{
    private readonly LlamaAttention self_attn;
    private readonly LlamaMlp mlp;
    private readonly LlamaRmsNorm input_layernorm;
    private readonly LlamaRmsNorm post_attention_layernorm;
    private readonly nn.Module<LlamaCrossAttentionInput, Tensor>? llama_cross_attn;

    public LlamaDecoderLayer(LlamaConfig config, int layerIndex, nn.Module<LlamaCrossAttentionInput, Tensor>? crossAttention)
        : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(config, layerIndex);
        mlp = new LlamaMlp(config.HiddenSize, config.IntermediateSize, config.MlpBias);
        input_layernorm = new LlamaRmsNorm(config.HiddenSize, config.RmsNormEps);
        post_attention_layernorm = new LlamaRmsNorm(config.HiddenSize, config.RmsNormEps);
        llama_cross_attn = crossAttention;
        RegisterComponents();
    }

    /// <summary>Whether this layer carries a cross-attention block.</summary>
    public bool HasCrossAttention => llama_cross_attn is not null;

    public override Tensor forward(LlamaLayerInput input)
    {
        using var scope = NewDisposeScope();
        var h = input.Hidden;                                                                    // [B, L, D]
        var normed = input_layernorm.forward(h);
        h = h + self_attn.forward(new LlamaAttentionInput(normed, input.Cos, input.Sin, input.Mask, input.Cache));
        if (llama_cross_attn is not null && input.Vision is not null)
            // The trainable cross-attention runs in its own dtype inside a (possibly low-precision) frozen body.
            h = llama_cross_attn.forward(new LlamaCrossAttentionInput(h.AsInputOf(llama_cross_attn), input.Vision))
                .to(h.dtype);                                                                      // [B, L, D]
        h = h + mlp.forward(post_attention_layernorm.forward(h));
        return h.MoveToOuterDisposeScope();
    }
}
