using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>
/// The fixed 2-D sine-cosine positional table of MAE (<c>get_2d_sincos_pos_embed</c>) that DEEM's
/// visual tokenizer adds to every multi-scale map and to the perceiver input (reference §1.3 step 2),
/// and its bicubic resizing (<c>get_abs_pos</c>).
/// For grid cell (row r, column c) and D channels, with ω_k = 10000^(−k/(D/4)), k = 0…D/4−1:
/// channels [0, D/4) = sin(r·ω_k), [D/4, D/2) = cos(r·ω_k), [D/2, 3D/4) = sin(c·ω_k),
/// [3D/4, D) = cos(c·ω_k). Rows are in row-major order (index r·G + c); the optional CLS row is zeros.
/// </summary>
public static class SinCosPositionEmbedding
{
    /// <summary>The table for a G×G grid: [G·G, D], or [1 + G·G, D] with a leading zero CLS row.</summary>
    /// <remarks>Computed in float32 like the numpy original; created on the default device.</remarks>
    public static Tensor Table(int embedDim, int gridSize, bool clsToken)
    {
        if (embedDim <= 0 || embedDim % 4 != 0)
            throw new ArgumentException($"embedDim must be a positive multiple of 4, found {embedDim}", nameof(embedDim));
        if (gridSize < 1)
            throw new ArgumentException($"gridSize must be ≥ 1, found {gridSize}", nameof(gridSize));
        using var scope = NewDisposeScope();
        var quarter = embedDim / 4;
        var omega = arange(quarter, dtype: ScalarType.Float32).div((float)quarter);   // [D/4]
        omega = pow(10000.0f, omega).reciprocal();                                      // [D/4]
        var pos = arange(gridSize, dtype: ScalarType.Float32);                          // [G]
        var rows = pos.repeat_interleave(gridSize);                                     // [G·G]  r of cell r·G + c
        var cols = pos.repeat(gridSize);                                                // [G·G]  c of cell r·G + c
        var outR = outer(rows, omega);                                                  // [G·G, D/4]
        var outC = outer(cols, omega);                                                  // [G·G, D/4]
        var table = cat([sin(outR), cos(outR), sin(outC), cos(outC)], 1);               // [G·G, D]
        if (clsToken)
            table = cat([zeros(1, embedDim, dtype: ScalarType.Float32), table], 0);     // [1 + G·G, D]
        return table.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Resizes a G×G table without CLS row ([G·G, D]) to an h×w grid ([h·w, D]) by bicubic
    /// interpolation (align_corners = false) in float32, as <c>get_abs_pos</c>; returned as is when
    /// h = w = G.
    /// </summary>
    public static Tensor Resize(Tensor grid, long height, long width)
    {
        var (N, D) = (grid.shape[0], grid.shape[1]);
        var g = (long)Math.Round(Math.Sqrt(N));
        if (g * g != N)
            throw new ArgumentException($"expected a square grid table [G·G, D], found [{N}, {D}]", nameof(grid));
        if (g == height && g == width)
            return grid.alias();
        using var scope = NewDisposeScope();
        var img = grid.to(ScalarType.Float32).reshape(1, g, g, D).permute(0, 3, 1, 2);  // [1, D, G, G]
        var resized = nn.functional.interpolate(img, [height, width],
            mode: InterpolationMode.Bicubic, align_corners: false);                      // [1, D, h, w]
        return resized.permute(0, 2, 3, 1).reshape(height * width, D)                   // [h·w, D]
            .to(grid.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>The table with CLS row ([1 + G·G, D]) resized for an h×w map: [D, h, w] (CLS row dropped).</summary>
    public static Tensor ForMap(Tensor tableWithCls, long height, long width)
    {
        using var scope = NewDisposeScope();
        var D = tableWithCls.shape[1];
        var grid = Resize(tableWithCls.narrow(0, 1, tableWithCls.shape[0] - 1), height, width); // [h·w, D]
        return grid.t().reshape(D, height, width).MoveToOuterDisposeScope();                    // [D, h, w]
    }

    /// <summary>The table with CLS row resized for 1 + h·w tokens: [1 + h·w, D] (zero CLS row kept first).</summary>
    public static Tensor ForTokens(Tensor tableWithCls, long height, long width)
    {
        using var scope = NewDisposeScope();
        var cls = tableWithCls.narrow(0, 0, 1);                                                 // [1, D]
        var grid = Resize(tableWithCls.narrow(0, 1, tableWithCls.shape[0] - 1), height, width); // [h·w, D]
        return cat([cls, grid], 0).MoveToOuterDisposeScope();                                  // [1 + h·w, D]
    }
}
