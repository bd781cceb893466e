using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// DEEM's image encoder ("sniffer", reference §1.2) and mask-aware extractor (§1.10): a ConvNeXt
/// trunk, per-stage linear adapters to a common width, the fixed 2-D sin-cos positional table the
/// visual tokenizer adds to the maps (§1.3), and the MaskPooling sizes. <see cref="Paper"/> is the
/// configuration of the released stage-1 model (ConvNeXt-B, 1024-wide adapters, 16×16 table,
/// 112×112 shape mask, the unused open_clip MLP head 1024→1280→640).
/// </summary>
public sealed record VisionEncoderConfig
{
    /// <summary>The ConvNeXt trunk.</summary>
    [JsonPropertyName("convnext")] public ConvNextConfig Trunk { get; init; } = ConvNextConfig.Base;

    /// <summary>Common width of the adapted maps and tokens (<c>image_embed_dim</c>, 1024).</summary>
    [JsonPropertyName("image_embed_dim")] public int EmbedDim { get; init; } = 1024;

    /// <summary>Side of the base sin-cos grid (<c>grid_size</c>, 16); resized to each map.</summary>
    [JsonPropertyName("grid_size")] public int PosEmbedGrid { get; init; } = 16;

    /// <summary>Normalise [0,1] pixels with the OpenAI CLIP mean/std before the trunk.</summary>
    [JsonPropertyName("clip_normalize")] public bool ClipNormalize { get; init; } = true;

    /// <summary>
    /// The open_clip projection head built on top of the trunk and never called by DEEM
    /// (<c>timm_proj</c>): <c>"mlp"</c> (DEEM builds this one), <c>"linear"</c> or <c>""</c> (none).
    /// It exists so state-dict keys and parameter counts match the authors' checkpoint.
    /// </summary>
    [JsonPropertyName("timm_proj")] public string ProjHead { get; init; } = "mlp";

    /// <summary>Output width of the unused open_clip head (<c>embed_dim</c>, 640 for ConvNeXt-B).</summary>
    [JsonPropertyName("clip_embed_dim")] public int ClipEmbedDim { get; init; } = 640;

    /// <summary>Side the region mask is resized to for MaskPooling's shape token (112).</summary>
    [JsonPropertyName("mask_shape")] public int MaskShape { get; init; } = 112;

    /// <summary>Test/CPU scale for 64-px images.</summary>
    public static VisionEncoderConfig Tiny => new()
    {
        Trunk = ConvNextConfig.Tiny,
        EmbedDim = 64,
        PosEmbedGrid = 8,
        ProjHead = "",
        ClipEmbedDim = 32,
        MaskShape = 16,
    };

    /// <summary>The paper's encoder: ConvNeXt-B + 1024-wide adapters (256 px → 257 tokens).</summary>
    public static VisionEncoderConfig Paper => new();

    /// <summary>
    /// The paper encoder around the trunk an open_clip model config describes, with the CLIP embed
    /// width taken from it. The unused head stays <c>"mlp"</c> whatever the file says: DEEM's code
    /// builds an MLP head on every ConvNeXt tower (reference §1.2).
    /// </summary>
    public static VisionEncoderConfig FromOpenClip(OpenClipModelConfig openClip, string source)
    {
        var cfg = Paper with
        {
            Trunk = ConvNextConfig.FromOpenClip(openClip, source),
            ClipEmbedDim = openClip.EmbedDim,
        };
        cfg.Validate(source);
        return cfg;
    }

    /// <summary>Throws <see cref="DeemConfigException"/> for impossible values.</summary>
    public void Validate(string source)
    {
        if (Trunk is null)
            throw new DeemConfigException(source, "convnext", "missing");
        Trunk.Validate(source);
        if (EmbedDim < 4 || EmbedDim % 4 != 0)
            throw new DeemConfigException(source, "image_embed_dim",
                $"the 2-D sin-cos table needs a positive multiple of 4, found {EmbedDim}");
        if (PosEmbedGrid < 1)
            throw new DeemConfigException(source, "grid_size", $"must be ≥ 1, found {PosEmbedGrid}");
        if (ProjHead is not ("" or "mlp" or "linear"))
            throw new DeemConfigException(source, "timm_proj", $"expected \"mlp\", \"linear\" or \"\", found \"{ProjHead}\"");
        if (ProjHead != "" && ClipEmbedDim < 1)
            throw new DeemConfigException(source, "clip_embed_dim", $"must be ≥ 1, found {ClipEmbedDim}");
        if (MaskShape < 1)
            throw new DeemConfigException(source, "mask_shape", $"must be ≥ 1, found {MaskShape}");
    }
}
