using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// The LLaMA decoder's hyper-parameters, with the keys of HF transformers' <c>LlamaConfig</c> so the
/// published <c>config.json</c> of Vicuna-7B v1.5 deserialises directly (reference §1.6: LLaMA-2
/// architecture, 32 layers, d = 4096, 32 heads, SwiGLU FFN 11008, RoPE base 10000). DEEM adds one
/// key, <c>cross_attention_frequency</c>: the gated MMFS cross-attention sits on the layers whose
/// index is a multiple of it (every 4th layer at paper scale, reference §1.1).
/// </summary>
public sealed record LlamaConfig
{
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 4096;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 11008;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 32;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 32;

    /// <summary>Key/value heads (grouped-query attention); null in old configs means = attention heads.</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }

    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-5;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 4096;
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 32000;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 1;
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 2;
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }

    /// <summary>Gated MMFS cross-attention on layers with <c>index % frequency == 0</c> (DEEM key; 0 = none).</summary>
    [JsonPropertyName("cross_attention_frequency")] public int CrossAttentionFrequency { get; init; } = 4;

    /// <summary>Key/value heads actually used (falls back to the attention heads).</summary>
    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;

    /// <summary>Width of one attention head.</summary>
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Whether decoder layer <paramref name="layerIndex"/> carries a cross-attention block.</summary>
    public bool HasCrossAttention(int layerIndex) =>
        CrossAttentionFrequency > 0 && layerIndex % CrossAttentionFrequency == 0;

    /// <summary>The published <c>lmsys/vicuna-7b-v1.5</c> config.json (vocabulary 32000, before DEEM's resize).</summary>
    public static LlamaConfig Vicuna7B { get; } = new()
    {
        HiddenSize = 4096,
        IntermediateSize = 11008,
        NumHiddenLayers = 32,
        NumAttentionHeads = 32,
        NumKeyValueHeads = 32,
        RmsNormEps = 1e-5,
        RopeTheta = 10000.0,
        MaxPositionEmbeddings = 4096,
        VocabSize = 32000,
        BosTokenId = 1,
        EosTokenId = 2,
        PadTokenId = 0,
        CrossAttentionFrequency = 4,
    };

    /// <summary>Vicuna-7B with DEEM's embedding table resized to 32006 rows (6 new special tokens, reference §1.5).</summary>
    public static LlamaConfig Paper7B { get; } = Vicuna7B with { VocabSize = 32006, PadTokenId = 31999 };

    /// <summary>A 4-layer, 128-wide decoder for tests and CPU training on the tiny world; set the vocabulary with <c>with</c>.</summary>
    public static LlamaConfig Tiny { get; } = new()
    {
        HiddenSize = 128,
        IntermediateSize = 344,
        NumHiddenLayers = 4,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 4,
        RmsNormEps = 1e-5,
        RopeTheta = 10000.0,
        MaxPositionEmbeddings = 1024,
        VocabSize = 256,
        BosTokenId = 1,
        EosTokenId = 2,
        PadTokenId = 0,
        CrossAttentionFrequency = 2,
    };

    /// <summary>Throws <see cref="DeemConfigException"/> for values no LLaMA can have.</summary>
    public void Validate(string source)
    {
        void Positive(int value, string field)
        {
            if (value <= 0) throw new DeemConfigException(source, field, $"must be > 0, found {value}");
        }

        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(KeyValueHeads, "num_key_value_heads");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        Positive(VocabSize, "vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new DeemConfigException(source, "hidden_size",
                $"must be divisible by num_attention_heads ({NumAttentionHeads}), found {HiddenSize}");
        if (HeadDim % 2 != 0)
            throw new DeemConfigException(source, "hidden_size", $"head dim {HeadDim} must be even for RoPE");
        if (NumAttentionHeads % KeyValueHeads != 0)
            throw new DeemConfigException(source, "num_key_value_heads",
                $"must divide num_attention_heads ({NumAttentionHeads}), found {KeyValueHeads}");
        if (!(RmsNormEps > 0))
            throw new DeemConfigException(source, "rms_norm_eps", $"must be > 0, found {RmsNormEps}");
        if (!(RopeTheta > 0))
            throw new DeemConfigException(source, "rope_theta", $"must be > 0, found {RopeTheta}");
        if (HiddenAct != "silu")
            throw new DeemConfigException(source, "hidden_act", $"only 'silu' (SwiGLU) is supported, found '{HiddenAct}'");
        if (CrossAttentionFrequency < 0)
            throw new DeemConfigException(source, "cross_attention_frequency", $"must be >= 0, found {CrossAttentionFrequency}");
        foreach (var (id, field) in new[] { (BosTokenId, "bos_token_id"), (EosTokenId, "eos_token_id"), (PadTokenId ?? 0, "pad_token_id") })
            if (id < 0 || id >= VocabSize)
                throw new DeemConfigException(source, field, $"must be in [0, vocab_size={VocabSize}), found {id}");
    }
}
