using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// Shape of a timm ConvNeXt trunk (Liu et al. 2022), the CLIP-ConvNeXt image encoder of DEEM
/// (paper §2, reference §1.2): a 4×4 patchify stem, four stages of depthwise-7×7 / LayerNorm /
/// 4× MLP blocks with layer scale and stochastic depth, a LayerNorm2d + 2×2 stride-2 conv between
/// stages. <see cref="Base"/> is timm <c>convnext_base</c> as the open_clip checkpoint
/// <c>laion/CLIP-convnext_base_w_320-laion_aesthetic-s13B-b82K</c> builds it
/// (<c>timm_drop_path: 0.1</c> becomes <see cref="DropPathRate"/>).
/// </summary>
public sealed record ConvNextConfig
{
    /// <summary>Blocks per stage (4 stages).</summary>
    [JsonPropertyName("depths")] public int[] Depths { get; init; } = [3, 3, 27, 3];

    /// <summary>Channels per stage (4 stages).</summary>
    [JsonPropertyName("dims")] public int[] Dims { get; init; } = [128, 256, 512, 1024];

    /// <summary>Stochastic-depth rate of the last block; block k of n gets k/(n−1) of it (timm linspace).</summary>
    [JsonPropertyName("drop_path_rate")] public double DropPathRate { get; init; }

    /// <summary>Initial value of the per-channel layer-scale <c>gamma</c>.</summary>
    [JsonPropertyName("ls_init_value")] public double LsInitValue { get; init; } = 1e-6;

    /// <summary>Input image channels.</summary>
    [JsonPropertyName("in_chans")] public int InChans { get; init; } = 3;

    /// <summary>Stem patch size (stride of the stem conv).</summary>
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 4;

    /// <summary>Depthwise conv kernel size in every block.</summary>
    [JsonPropertyName("kernel_size")] public int KernelSize { get; init; } = 7;

    /// <summary>Hidden width of the block MLP as a multiple of the stage width.</summary>
    [JsonPropertyName("mlp_ratio")] public int MlpRatio { get; init; } = 4;

    /// <summary>Epsilon of every LayerNorm / LayerNorm2d (timm default).</summary>
    [JsonPropertyName("norm_eps")] public double NormEps { get; init; } = 1e-6;

    /// <summary>Channels of the last stage (what the pooled head outputs).</summary>
    [JsonIgnore] public int NumFeatures => Dims[^1];

    /// <summary>Test/CPU scale: for 64-px images (maps 16, 8, 4, 2).</summary>
    public static ConvNextConfig Tiny => new()
    {
        Depths = [1, 1, 2, 1],
        Dims = [16, 32, 48, 64],
        DropPathRate = 0.1,
    };

    /// <summary>timm <c>convnext_base</c> with DEEM's <c>timm_drop_path: 0.1</c>.</summary>
    public static ConvNextConfig Base => FromTimmName("convnext_base", 0.1, "preset Base");

    /// <summary>
    /// timm's registered ConvNeXt variants (the ones with the standard patch stem and channels-last
    /// MLP): <c>convnext_tiny/small/base/large/xlarge</c>.
    /// </summary>
    public static ConvNextConfig FromTimmName(string timmModelName, double dropPathRate, string source)
    {
        (int[] depths, int[] dims) = timmModelName switch
        {
            "convnext_tiny" => (new[] { 3, 3, 9, 3 }, new[] { 96, 192, 384, 768 }),
            "convnext_small" => (new[] { 3, 3, 27, 3 }, new[] { 96, 192, 384, 768 }),
            "convnext_base" => (new[] { 3, 3, 27, 3 }, new[] { 128, 256, 512, 1024 }),
            "convnext_large" => (new[] { 3, 3, 27, 3 }, new[] { 192, 384, 768, 1536 }),
            "convnext_xlarge" => (new[] { 3, 3, 27, 3 }, new[] { 256, 512, 1024, 2048 }),
            _ => throw new DeemConfigException(source, "timm_model_name",
                $"'{timmModelName}' is not a supported ConvNeXt (expected convnext_tiny, convnext_small, convnext_base, convnext_large or convnext_xlarge)"),
        };
        var cfg = new ConvNextConfig { Depths = depths, Dims = dims, DropPathRate = dropPathRate };
        cfg.Validate(source);
        return cfg;
    }

    /// <summary>The trunk an open_clip model config (<c>model_cfgs/*.json</c>) describes.</summary>
    public static ConvNextConfig FromOpenClip(OpenClipModelConfig openClip, string source)
    {
        var vision = openClip.VisionCfg
            ?? throw new DeemConfigException(source, "vision_cfg", "missing");
        if (string.IsNullOrEmpty(vision.TimmModelName))
            throw new DeemConfigException(source, "vision_cfg.timm_model_name",
                "missing: only timm ConvNeXt towers are supported");
        return FromTimmName(vision.TimmModelName, vision.TimmDropPath ?? 0.0, source);
    }

    /// <summary>Reads an open_clip model config JSON file and returns its ConvNeXt trunk.</summary>
    public static ConvNextConfig LoadOpenClip(string path) =>
        FromOpenClip(ConfigJson.Load<OpenClipModelConfig>(path), path);

    /// <summary>Throws <see cref="DeemConfigException"/> for impossible values.</summary>
    public void Validate(string source)
    {
        if (Depths is null || Depths.Length != 4)
            throw new DeemConfigException(source, "depths", $"expected 4 stages, found {Depths?.Length ?? 0}");
        if (Dims is null || Dims.Length != 4)
            throw new DeemConfigException(source, "dims", $"expected 4 stages, found {Dims?.Length ?? 0}");
        for (var i = 0; i < 4; i++)
        {
            if (Depths[i] < 1)
                throw new DeemConfigException(source, $"depths[{i}]", $"must be ≥ 1, found {Depths[i]}");
            if (Dims[i] < 1)
                throw new DeemConfigException(source, $"dims[{i}]", $"must be ≥ 1, found {Dims[i]}");
        }
        if (DropPathRate is < 0.0 or >= 1.0 || double.IsNaN(DropPathRate))
            throw new DeemConfigException(source, "drop_path_rate", $"must be in [0, 1), found {DropPathRate}");
        if (LsInitValue <= 0.0 || double.IsNaN(LsInitValue))
            throw new DeemConfigException(source, "ls_init_value", $"must be > 0, found {LsInitValue}");
        if (InChans < 1)
            throw new DeemConfigException(source, "in_chans", $"must be ≥ 1, found {InChans}");
        if (PatchSize < 1)
            throw new DeemConfigException(source, "patch_size", $"must be ≥ 1, found {PatchSize}");
        if (KernelSize < 1 || KernelSize % 2 == 0)
            throw new DeemConfigException(source, "kernel_size", $"must be odd and ≥ 1, found {KernelSize}");
        if (MlpRatio < 1)
            throw new DeemConfigException(source, "mlp_ratio", $"must be ≥ 1, found {MlpRatio}");
        if (NormEps <= 0.0 || double.IsNaN(NormEps))
            throw new DeemConfigException(source, "norm_eps", $"must be > 0, found {NormEps}");
    }
}

/// <summary>
/// An open_clip model config (<c>src/open_clip/model_configs/*.json</c>, e.g.
/// <c>convnext_base_w_320.json</c>); only what the image tower needs is read.
/// </summary>
public sealed record OpenClipModelConfig
{
    /// <summary>Width of the shared image-text embedding (640 for convnext_base_w).</summary>
    [JsonPropertyName("embed_dim")] public int EmbedDim { get; init; }

    /// <summary>The image tower.</summary>
    [JsonPropertyName("vision_cfg")] public OpenClipVisionConfig? VisionCfg { get; init; }
}

/// <summary>The <c>vision_cfg</c> block of an open_clip model config (timm towers).</summary>
public sealed record OpenClipVisionConfig
{
    [JsonPropertyName("timm_model_name")] public string? TimmModelName { get; init; }

    /// <summary>Pool override passed to timm (<c>""</c>: keep the network's default head).</summary>
    [JsonPropertyName("timm_pool")] public string? TimmPool { get; init; }

    /// <summary>open_clip projection after the trunk: <c>linear</c>, <c>mlp</c> or empty.</summary>
    [JsonPropertyName("timm_proj")] public string? TimmProj { get; init; }

    [JsonPropertyName("timm_drop")] public double TimmDrop { get; init; }

    /// <summary>Passed to timm as <c>drop_path_rate</c>; absent means timm's default, 0.</summary>
    [JsonPropertyName("timm_drop_path")] public double? TimmDropPath { get; init; }

    /// <summary>Has no effect on a ConvNeXt (fully convolutional).</summary>
    [JsonPropertyName("image_size")] public int ImageSize { get; init; }
}
