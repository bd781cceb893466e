using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>Input of <see cref="MaskPooling"/>.</summary>
/// <param name="Maps">The pos-embedded multi-scale maps, each [B, C, h_i, w_i] (4 at DEEM scale).</param>
/// <param name="Mask">[B, 1, H, W] region mask (any resolution; > 0 after resizing counts as inside).</param>
public sealed record MaskPoolingInput(Tensor[] Maps, Tensor Mask);

/// <summary>
/// DEEM's mask-aware extractor <c>MaskPooling</c> (reference §1.10; paper §2, region-level stage):
/// one masked-average token per multi-scale map, Σ x·m / (Σ m + 1e-8) with m the binarised mask,
/// each through <c>mask_feat_linear</c> (C→C), then one "shape" token: the mask bilinearly resized to
/// S×S (S = 112), flattened, through a 3-layer MLP <c>mask_linear</c> (S²→C→C→C, ReLU between).
/// Output [B, maps + 1, C], shape token last. The static helpers are the region gating applied to the
/// perceiver tokens and the MMFS maps.
/// </summary>
public sealed class MaskPooling : nn.Module<MaskPoolingInput, Tensor>
{
    /// <summary>Added to the mask area in the masked average (as the authors' code).</summary>
    public const double DenominatorEps = 1e-8;

    private readonly MaskShapeMlp mask_linear;
    private readonly Linear mask_feat_linear;
    private readonly long maskShape;
    private readonly long width;

    public MaskPooling(long width, long maskShape) : base(nameof(MaskPooling))
    {
        if (width < 1 || maskShape < 1)
            throw new ArgumentException($"width and maskShape must be ≥ 1, found {width}, {maskShape}");
        this.width = width;
        this.maskShape = maskShape;
        mask_linear = new MaskShapeMlp(maskShape * maskShape, width, width, 3);
        mask_feat_linear = nn.Linear(width, width);
        RegisterComponents();
    }

    /// <summary>Built from the encoder configuration (width <c>image_embed_dim</c>, side <c>mask_shape</c>).</summary>
    public MaskPooling(VisionEncoderConfig config) : this(config.EmbedDim, config.MaskShape) { }

    public override Tensor forward(MaskPoolingInput input)
    {
        using var scope = NewDisposeScope();
        var mask = CheckMask(input.Mask, "Mask");
        var B = mask.shape[0];
        var dtype = input.Maps[0].dtype;
        mask = mask.to(dtype);
        var shape = nn.functional.interpolate(mask, [maskShape, maskShape],
            mode: InterpolationMode.Bilinear, align_corners: false);          // [B, 1, S, S]
        var shapeToken = mask_linear.forward(shape.reshape(B, maskShape * maskShape)); // [B, C]
        var tokens = new List<Tensor>();
        foreach (var map in input.Maps)
        {
            if (map.ndim != 4 || map.shape[0] != B || map.shape[1] != width)
                throw new ArgumentException($"MaskPooling: expected maps [{B}, {width}, h, w], found [{string.Join(", ", map.shape)}]", nameof(input));
            tokens.Add(mask_feat_linear.forward(MaskedAverage(map, mask)));     // [B, C]
        }
        tokens.Add(shapeToken);
        return stack(tokens, 1).MoveToOuterDisposeScope();                    // [B, maps + 1, C]
    }

    /// <summary>
    /// The mask at h×w as a bool tensor [B, 1, h, w]: bilinear resize (align_corners = false, skipped
    /// when the size already matches), then &gt; 0.
    /// </summary>
    public static Tensor RegionAt(Tensor mask, long height, long width)
    {
        using var scope = NewDisposeScope();
        mask = CheckMask(mask, nameof(mask));
        if (mask.shape[2] != height || mask.shape[3] != width)
        {
            var m = mask.is_floating_point() ? mask : mask.to(ScalarType.Float32);
            mask = nn.functional.interpolate(m, [height, width],
                mode: InterpolationMode.Bilinear, align_corners: false);      // [B, 1, h, w]
        }
        return mask.gt(0).MoveToOuterDisposeScope();
    }

    /// <summary>Zeroes a map [B, C, h, w] outside the region (the authors' <c>extract_region</c>).</summary>
    public static Tensor GateMap(Tensor map, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var region = RegionAt(mask, map.shape[2], map.shape[3]);               // [B, 1, h, w]
        return map.mul(region.to(map.dtype)).MoveToOuterDisposeScope();       // [B, C, h, w]
    }

    /// <summary>
    /// Zeroes the patch tokens outside the region; the CLS token (index 0) is kept.
    /// <paramref name="tokens"/> is [B, 1 + h·w, C] with the patches in row-major h×w order.
    /// </summary>
    public static Tensor GateTokens(Tensor tokens, Tensor mask, long gridHeight, long gridWidth)
    {
        using var scope = NewDisposeScope();
        var (B, T, C) = (tokens.shape[0], tokens.shape[1], tokens.shape[2]);
        if (T != 1 + gridHeight * gridWidth)
            throw new ArgumentException($"GateTokens: expected [B, {1 + gridHeight * gridWidth}, C] tokens for a {gridHeight}×{gridWidth} grid, found [{B}, {T}, {C}]", nameof(tokens));
        var region = RegionAt(mask, gridHeight, gridWidth).reshape(B, gridHeight * gridWidth, 1); // [B, h·w, 1]
        var patches = tokens.narrow(1, 1, T - 1).mul(region.to(tokens.dtype));                     // [B, h·w, C]
        return cat([tokens.narrow(1, 0, 1), patches], 1).MoveToOuterDisposeScope();                 // [B, 1 + h·w, C]
    }

    /// <summary>Σ x·m / (Σ m + 1e-8) over the spatial axes with m the binarised mask: [B, C, h, w] → [B, C].</summary>
    public static Tensor MaskedAverage(Tensor map, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var m = RegionAt(mask, map.shape[2], map.shape[3]).to(map.dtype);     // [B, 1, h, w]
        var area = m.sum([2, 3]).add(DenominatorEps);                         // [B, 1]
        var total = map.mul(m).sum([2, 3]);                                   // [B, C]
        return total.div(area).MoveToOuterDisposeScope();                     // [B, C]
    }

    private static Tensor CheckMask(Tensor mask, string name)
    {
        if (mask.ndim != 4 || mask.shape[1] != 1)
            throw new ArgumentException($"expected a mask [B, 1, H, W], found [{string.Join(", ", mask.shape)}]", name);
        return mask;
    }
}

/// <summary>
/// The authors' <c>MLP</c> used for MaskPooling's shape token: <c>layers.{i}</c> Linear layers
/// (in→hidden→…→out) with ReLU after every layer but the last.
/// </summary>
public sealed class MaskShapeMlp : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> layers;

    public MaskShapeMlp(long inputDim, long hiddenDim, long outputDim, int numLayers) : base(nameof(MaskShapeMlp))
    {
        if (numLayers < 1)
            throw new ArgumentException($"numLayers must be ≥ 1, found {numLayers}", nameof(numLayers));
        layers = new ModuleList<Linear>();
        for (var i = 0; i < numLayers; i++)
        {
            var n = i == 0 ? inputDim : hiddenDim;
            var k = i == numLayers - 1 ? outputDim : hiddenDim;
            layers.Add(nn.Linear(n, k));
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x;
        for (var i = 0; i < layers.Count; i++)
        {
            h = layers[i].forward(h);
            if (i < layers.Count - 1) h = nn.functional.relu(h);
        }
        return h.MoveToOuterDisposeScope();
    }
}
