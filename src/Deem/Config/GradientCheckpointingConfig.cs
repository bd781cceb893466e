using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// Which modules recompute their activations in the backward pass instead of keeping them (the
/// stage YAML's <c>gradient_checkpointing</c> map). The authors switch it on for the LLaMA layers, both
/// Q-Formers, the UNet, the VAE and the MMFSNet blocks in every stage (reference §3); the VAE here is
/// frozen and runs without autograd, so it has no switch. It trades one more forward of each block for
/// the memory of its activations; the gradients are the same.
/// </summary>
public sealed record GradientCheckpointingConfig
{
    /// <summary>The LLaMA decoder layers (<c>mm_decoder.layers.{i}</c>, with their MMFS cross-attention).</summary>
    public bool Llm { get; init; }
    /// <summary>The visual tokenizer's Q-Former layers (<c>perceiver_resampler</c>).</summary>
    public bool Perceiver { get; init; }
    /// <summary>The image decoder's Q-Former layer.</summary>
    public bool ImageDecoder { get; init; }
    /// <summary>The UNet's down, mid and up blocks.</summary>
    public bool Unet { get; init; }
    /// <summary>The MMFSNet blocks.</summary>
    public bool Mmfs { get; init; }

    /// <summary>Nothing recomputed.</summary>
    public static GradientCheckpointingConfig None { get; } = new();

    /// <summary>Everything the authors checkpoint.</summary>
    public static GradientCheckpointingConfig All { get; } = new() { Llm = true, Perceiver = true, ImageDecoder = true, Unet = true, Mmfs = true };

    /// <summary>Whether any module recomputes.</summary>
    [JsonIgnore]
    public bool Any => Llm || Perceiver || ImageDecoder || Unet || Mmfs;
}
