using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// Configuration of a BLIP-2 Q-Former used as a perceiver resampler (reference §1.4; paper §2:
/// the visual tokenizer's 77-query resampler and the image decoder's 1-layer context resampler).
/// The JSON keys are those of HF transformers' <c>Blip2QFormerConfig</c> (so the <c>qformer_config</c>
/// block of a BLIP-2 <c>config.json</c> loads as is), plus the two keys the DEEM perceiver wrapper adds
/// to its <c>perceiver_config</c> block: <c>num_queries</c> and <c>qk_normalization</c>.
/// Defaults are the HF defaults (transformers 4.31) and the wrapper's defaults (32 queries, no QK-norm).
/// </summary>
public sealed record QFormerConfig
{
    /// <summary>Width of the queries and of every Q-Former layer.</summary>
    [JsonPropertyName("hidden_size")] public long HiddenSize { get; init; } = 768;

    /// <summary>Number of post-LN layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;

    /// <summary>Attention heads in self- and cross-attention.</summary>
    [JsonPropertyName("num_attention_heads")] public long NumAttentionHeads { get; init; } = 12;

    /// <summary>Width of the query feed-forward block.</summary>
    [JsonPropertyName("intermediate_size")] public long IntermediateSize { get; init; } = 3072;

    /// <summary>Activation of the feed-forward block: gelu (exact), gelu_new / gelu_pytorch_tanh (tanh approximation), relu, silu.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";

    /// <summary>Dropout after the query LayerNorm and after each dense projection.</summary>
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; init; } = 0.1;

    /// <summary>Dropout on attention probabilities.</summary>
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; init; } = 0.1;

    /// <summary>Std of the normal init of linear weights and of the learned queries.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;

    /// <summary>Epsilon of every LayerNorm, including the per-head QK-norms.</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-12;

    /// <summary>Layer i has cross-attention iff i % cross_attention_frequency == 0.</summary>
    [JsonPropertyName("cross_attention_frequency")] public int CrossAttentionFrequency { get; init; } = 2;

    /// <summary>Width of the encoder states the cross-attention keys/values are projected from.</summary>
    [JsonPropertyName("encoder_hidden_size")] public long EncoderHiddenSize { get; init; } = 1408;

    /// <summary>Number of learned queries (DEEM perceiver wrapper key).</summary>
    [JsonPropertyName("num_queries")] public long NumQueries { get; init; } = 32;

    /// <summary>Per-head LayerNorm on Q and K in every attention (DEEM/MM-Interleaved monkey patch).</summary>
    [JsonPropertyName("qk_normalization")] public bool QkNormalization { get; init; }

    /// <summary>Per-head width.</summary>
    [JsonIgnore] public long HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>The visual tokenizer's resampler at paper scale: 77 × 768, 12 layers, cross-attention every 2nd layer on 1024-d ConvNeXt tokens, dropout 0.1, QK-norm (101.66 M parameters with its queries).</summary>
    public static QFormerConfig VisualPaper { get; } = new()
    {
        NumQueries = 77,
        HiddenSize = 768,
        EncoderHiddenSize = 1024,
        CrossAttentionFrequency = 2,
        NumHiddenLayers = 12,
        NumAttentionHeads = 12,
        QkNormalization = true,
    };

    /// <summary>The image decoder's resampler at paper scale: 77 × 1024, 1 layer, 16 heads, cross-attention on 4096-d LLM states, no dropout, no QK-norm (21.07 M parameters with its queries).</summary>
    public static QFormerConfig DecoderPaper { get; } = new()
    {
        NumQueries = 77,
        HiddenSize = 1024,
        EncoderHiddenSize = 4096,
        CrossAttentionFrequency = 1,
        NumHiddenLayers = 1,
        NumAttentionHeads = 16,
        HiddenDropoutProb = 0.0,
        AttentionProbsDropoutProb = 0.0,
    };

    /// <summary>Small visual resampler for tests and CPU training: 16 queries × 64, 2 layers, cross-attention on layer 0, 64-d encoder tokens, QK-norm.</summary>
    public static QFormerConfig TinyVisual { get; } = new()
    {
        NumQueries = 16,
        HiddenSize = 64,
        EncoderHiddenSize = 64,
        CrossAttentionFrequency = 2,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        IntermediateSize = 128,
        QkNormalization = true,
    };

    /// <summary>Small decoder resampler for tests and CPU training: 16 queries × 64, 1 layer, 96-d LLM states, no dropout.</summary>
    public static QFormerConfig TinyDecoder { get; } = new()
    {
        NumQueries = 16,
        HiddenSize = 64,
        EncoderHiddenSize = 96,
        CrossAttentionFrequency = 1,
        NumHiddenLayers = 1,
        NumAttentionHeads = 4,
        IntermediateSize = 128,
        HiddenDropoutProb = 0.0,
        AttentionProbsDropoutProb = 0.0,
    };

    static readonly string[] KnownActivations = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu"];

    /// <summary>Throws <see cref="DeemConfigException"/> for values no Q-Former can be built from.</summary>
    public QFormerConfig Validate(string source)
    {
        if (HiddenSize <= 0) throw new DeemConfigException(source, "hidden_size", $"must be > 0, found {HiddenSize}");
        if (NumHiddenLayers <= 0) throw new DeemConfigException(source, "num_hidden_layers", $"must be > 0, found {NumHiddenLayers}");
        if (NumAttentionHeads <= 0 || HiddenSize % NumAttentionHeads != 0)
            throw new DeemConfigException(source, "num_attention_heads",
                $"must be > 0 and divide hidden_size {HiddenSize}, found {NumAttentionHeads}");
        if (IntermediateSize <= 0) throw new DeemConfigException(source, "intermediate_size", $"must be > 0, found {IntermediateSize}");
        if (!KnownActivations.Contains(HiddenAct))
            throw new DeemConfigException(source, "hidden_act", $"expected one of {string.Join(", ", KnownActivations)}, found '{HiddenAct}'");
        if (HiddenDropoutProb is < 0 or >= 1) throw new DeemConfigException(source, "hidden_dropout_prob", $"must be in [0, 1), found {HiddenDropoutProb}");
        if (AttentionProbsDropoutProb is < 0 or >= 1)
            throw new DeemConfigException(source, "attention_probs_dropout_prob", $"must be in [0, 1), found {AttentionProbsDropoutProb}");
        if (InitializerRange < 0) throw new DeemConfigException(source, "initializer_range", $"must be >= 0, found {InitializerRange}");
        if (LayerNormEps <= 0) throw new DeemConfigException(source, "layer_norm_eps", $"must be > 0, found {LayerNormEps}");
        if (CrossAttentionFrequency <= 0)
            throw new DeemConfigException(source, "cross_attention_frequency", $"must be > 0, found {CrossAttentionFrequency}");
        if (EncoderHiddenSize <= 0) throw new DeemConfigException(source, "encoder_hidden_size", $"must be > 0, found {EncoderHiddenSize}");
        if (NumQueries <= 0) throw new DeemConfigException(source, "num_queries", $"must be > 0, found {NumQueries}");
        return this;
    }
}
