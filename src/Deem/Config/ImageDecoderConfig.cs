using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// Configuration of DEEM's image decoder conditioning path (reference §1.8; paper §2, Eq. 3): the
/// LLM context of each image goes through a 1-layer Q-Former into the UNet's text-condition shape,
/// with a learned null embedding swapped in for classifier-free guidance. The keys follow the
/// <c>image_decoder_config</c> block of DEEM's training YAML (<c>uncond_prob</c>,
/// <c>perceiver_config</c>); <c>max_context_len</c> is the length of the fixed 1-D sin-cos table,
/// which DEEM takes from the top-level <c>seq_len</c> (2048).
/// </summary>
public sealed record ImageDecoderConfig
{
    /// <summary>Training-only probability per image of replacing its condition by the null embedding.</summary>
    [JsonPropertyName("uncond_prob")] public double UncondProb { get; init; } = 0.1;

    /// <summary>Number of positions in the 1-D sin-cos table added to the reversed context.</summary>
    [JsonPropertyName("max_context_len")] public long MaxContextLen { get; init; } = 2048;

    /// <summary>The decoder Q-Former. Its <c>encoder_hidden_size</c> is the LLM width D; its queries × hidden size is the UNet condition shape.</summary>
    [JsonPropertyName("perceiver_config")] public QFormerConfig PerceiverConfig { get; init; } = QFormerConfig.DecoderPaper;

    /// <summary>LLM hidden width D the context is taken from.</summary>
    [JsonIgnore] public long ContextHiddenSize => PerceiverConfig.EncoderHiddenSize;

    /// <summary>Paper scale (Vicuna-7B states → 77 × 1024 SD-2.1 condition).</summary>
    public static ImageDecoderConfig Paper7B { get; } = new();

    /// <summary>Tiny decoder for tests and CPU training.</summary>
    public static ImageDecoderConfig Tiny { get; } = new() { MaxContextLen = 256, PerceiverConfig = QFormerConfig.TinyDecoder };

    /// <summary>Throws <see cref="DeemConfigException"/> for impossible values.</summary>
    public ImageDecoderConfig Validate(string source)
    {
        if (UncondProb is < 0 or > 1) throw new DeemConfigException(source, "uncond_prob", $"must be in [0, 1], found {UncondProb}");
        if (MaxContextLen <= 0) throw new DeemConfigException(source, "max_context_len", $"must be > 0, found {MaxContextLen}");
        if (ContextHiddenSize % 2 != 0)
            throw new DeemConfigException(source, "perceiver_config.encoder_hidden_size",
                $"the 1-D sin-cos table needs an even width, found {ContextHiddenSize}");
        PerceiverConfig.Validate(source + ": perceiver_config");
        return this;
    }
}
