using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// Hyper-parameters of one multi-image multi-scale feature synchronizer (MMFS, the deformable
/// cross-attention of MM-Interleaved kept by DEEM; reference §1.6 for the LLM and §1.9 for MMFSNet).
/// The JSON keys are the constructor arguments of the reference <c>MMFS</c> module.
/// </summary>
public sealed record MmfsConfig
{
    /// <summary>Attention width; the value/head width is <c>d_model · ratio</c>.</summary>
    [JsonPropertyName("d_model")] public long DModel { get; init; } = 256;

    /// <summary>Query input width (LLM hidden size, or the UNet feature channels in MMFSNet).</summary>
    [JsonPropertyName("d_query")] public long DQuery { get; init; } = 256;

    /// <summary>Value input width (the multi-scale image feature channels).</summary>
    [JsonPropertyName("d_value")] public long DValue { get; init; } = 256;

    /// <summary>Output width of <c>output_proj</c>.</summary>
    [JsonPropertyName("d_out")] public long DOut { get; init; } = 256;

    /// <summary>Inner value width = d_model · ratio (0.25 in the LLM: 4096·0.25 = 1024).</summary>
    [JsonPropertyName("ratio")] public double Ratio { get; init; } = 1.0;

    [JsonPropertyName("n_heads")] public long NHeads { get; init; } = 8;

    /// <summary>Feature levels per image; equals the length of <see cref="SpatialShapes"/>.</summary>
    [JsonPropertyName("n_levels")] public long NLevels { get; init; } = 1;

    /// <summary>Sampling points per head, level and image.</summary>
    [JsonPropertyName("n_points")] public long NPoints { get; init; } = 8;

    /// <summary>Rows of <c>query_relpos</c>; the relative image index must stay below it.</summary>
    [JsonPropertyName("max_num_image_per_seq")] public long MaxNumImagePerSeq { get; init; } = 50;

    /// <summary><c>sampling_offsets.bias</c> is drawn from U(−m, m) at (re-)initialisation.</summary>
    [JsonPropertyName("offset_init_magnitude")] public double OffsetInitMagnitude { get; init; } = 3.0;

    /// <summary>Side of each level's feature map, as configured (sets the scale ratios side/base).</summary>
    [JsonPropertyName("spatial_shapes")] public long[] SpatialShapes { get; init; } = [16];

    /// <summary>The side the sampling offsets are measured on: level l's offsets are scaled by side_l / base.</summary>
    [JsonPropertyName("base_spatial_shape")] public long BaseSpatialShape { get; init; } = 16;

    /// <summary>Width of the projected values, d_model · ratio.</summary>
    [JsonIgnore] public long InnerDim => (long)Math.Round(DModel * Ratio);

    /// <summary>Value width per head.</summary>
    [JsonIgnore] public long HeadDim => InnerDim / NHeads;

    /// <summary>The LLM cross-attention of DEEM-7B (Vicuna-7B, 256 px encoder; reference §1.6).</summary>
    public static MmfsConfig LlmPaper7B => new()
    {
        DModel = 4096, DQuery = 4096, DValue = 1024, DOut = 4096, Ratio = 0.25,
        NHeads = 16, NLevels = 3, NPoints = 8, MaxNumImagePerSeq = 50, OffsetInitMagnitude = 3.0,
        SpatialShapes = [32, 16, 8], BaseSpatialShape = 16,
    };

    /// <summary>
    /// MMFSNet's blocks (reference §1.9). <see cref="DQuery"/>/<see cref="DOut"/> and
    /// <see cref="BaseSpatialShape"/> are per block and set by MmfsNet from the UNet skip it serves.
    /// </summary>
    public static MmfsConfig MmfsNetPaper => new()
    {
        DModel = 1024, DQuery = 320, DValue = 1024, DOut = 320, Ratio = 1.0,
        NHeads = 16, NLevels = 4, NPoints = 8, MaxNumImagePerSeq = 10, OffsetInitMagnitude = 1.0,
        SpatialShapes = [64, 32, 16, 8], BaseSpatialShape = 64,
    };

    /// <summary>A small LLM-style MMFS for tests and CPU training.</summary>
    public static MmfsConfig LlmTiny => new()
    {
        DModel = 64, DQuery = 64, DValue = 32, DOut = 64, Ratio = 0.5,
        NHeads = 4, NLevels = 3, NPoints = 4, MaxNumImagePerSeq = 8, OffsetInitMagnitude = 3.0,
        SpatialShapes = [8, 4, 2], BaseSpatialShape = 4,
    };

    /// <summary>A small MMFSNet-style MMFS for tests and CPU training.</summary>
    public static MmfsConfig MmfsNetTiny => new()
    {
        DModel = 32, DQuery = 16, DValue = 24, DOut = 16, Ratio = 1.0,
        NHeads = 4, NLevels = 2, NPoints = 4, MaxNumImagePerSeq = 4, OffsetInitMagnitude = 1.0,
        SpatialShapes = [8, 4], BaseSpatialShape = 8,
    };

    /// <summary>Throws <see cref="DeemConfigException"/> for impossible values.</summary>
    public void Validate(string source)
    {
        void Positive(long v, string field)
        {
            if (v <= 0) throw new DeemConfigException(source, field, $"must be > 0, found {v}");
        }

        Positive(DModel, "d_model");
        Positive(DQuery, "d_query");
        Positive(DValue, "d_value");
        Positive(DOut, "d_out");
        Positive(NHeads, "n_heads");
        Positive(NLevels, "n_levels");
        Positive(NPoints, "n_points");
        Positive(BaseSpatialShape, "base_spatial_shape");
        if (MaxNumImagePerSeq < 2)
            throw new DeemConfigException(source, "max_num_image_per_seq", $"must be >= 2, found {MaxNumImagePerSeq}");
        if (!(Ratio > 0) || Math.Abs(DModel * Ratio - InnerDim) > 1e-9)
            throw new DeemConfigException(source, "ratio", $"d_model·ratio must be a positive whole number, found {DModel}·{Ratio}");
        if (InnerDim % NHeads != 0)
            throw new DeemConfigException(source, "n_heads", $"d_model·ratio = {InnerDim} is not divisible by n_heads = {NHeads}");
        if (!(OffsetInitMagnitude >= 0))
            throw new DeemConfigException(source, "offset_init_magnitude", $"must be >= 0, found {OffsetInitMagnitude}");
        if (SpatialShapes is null || SpatialShapes.Length != NLevels)
            throw new DeemConfigException(source, "spatial_shapes", $"expected {NLevels} sides (n_levels), found {SpatialShapes?.Length ?? 0}");
        foreach (var s in SpatialShapes)
            if (s <= 0) throw new DeemConfigException(source, "spatial_shapes", $"sides must be > 0, found {s}");
    }
}
