using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>
/// Key mapping between a Hugging Face <c>LlamaForCausalLM</c> checkpoint (Vicuna, reference §1.6) and DEEM's
/// LLM: the body <c>model.*</c> is DEEM's <c>mm_decoder.*</c> (keys relative to the LLM module: <c>model.{k}</c>
/// ↔ <c>{k}</c>), <c>lm_head.weight</c> fills the base rows of <c>text_decoder.head</c>. The MMFS
/// cross-attention layers (<c>.llama_cross_attn.</c>) are DEEM's own and in no HF file; RoPE <c>inv_freq</c>
/// buffers of old checkpoints are not weights.
/// </summary>
public static class HfLlamaKeys
{
    /// <summary>Prefix of the decoder body in an HF checkpoint.</summary>
    public const string BodyPrefix = "model.";

    /// <summary>The HF LM head, [V_base, D].</summary>
    public const string LmHead = "lm_head.weight";

    /// <summary>The body's embedding, relative to the LLM module (resized from the base vocabulary on load).</summary>
    public const string EmbedTokens = "embed_tokens.weight";

    /// <summary>Marks DEEM's MMFS cross-attention parameters inside the LLM.</summary>
    public const string CrossAttentionMarker = ".llama_cross_attn.";

    /// <summary>The HF key of an LLM body key.</summary>
    public static string ToHf(string bodyKey) => BodyPrefix + bodyKey;

    /// <summary>The LLM body key of an HF key; null for keys outside the body (<c>lm_head.weight</c>, anything else).</summary>
    public static string? ToBody(string hfKey) =>
        hfKey.StartsWith(BodyPrefix, StringComparison.Ordinal) ? hfKey[BodyPrefix.Length..] : null;

    /// <summary>True for an LLM body key no HF checkpoint holds (DEEM's MMFS cross-attention).</summary>
    public static bool IsDeemOnly(string bodyKey) => bodyKey.Contains(CrossAttentionMarker, StringComparison.Ordinal);

    /// <summary>True for a file key that is no weight (the RoPE <c>inv_freq</c> buffers old checkpoints carry).</summary>
    public static bool IsIgnored(string hfKey) => hfKey.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal);

    /// <summary>
    /// The HF tensors of an LLM body state dict and its LM head (the inverse of loading; tensors are shared,
    /// not copied). DEEM's own cross-attention keys have no HF name and are refused.
    /// </summary>
    /// <param name="body">The body's state dict (keys relative to the LLM module).</param>
    /// <param name="lmHead">The LM head weight, [V, D].</param>
    public static Dictionary<string, Tensor> ToHf(IReadOnlyDictionary<string, Tensor> body, Tensor lmHead)
    {
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, value) in body)
            r[IsDeemOnly(key) ? throw new ArgumentException($"'{key}' is DEEM's own (MMFS cross-attention) and has no HF key") : ToHf(key)] = value;
        r[LmHead] = lmHead;
        return r;
    }
}
