using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Attention;

/// <summary>Input of <see cref="MmfsBlock"/>.</summary>
/// <param name="Sample">[B, C_q, H, W]: the UNet feature map the residual is for.</param>
/// <param name="Features">[B, N, S, C_v]: the conditioning images' multi-scale maps, flattened per level and concatenated.</param>
/// <param name="SpatialShapes">(H_l, W_l) of the levels in <see cref="Features"/>.</param>
/// <param name="ImageMask">[B, N] (bool or 0/1): 1 where a conditioning image exists.</param>
public sealed record MmfsBlockInput(Tensor Sample, Tensor Features, (long H, long W)[] SpatialShapes, Tensor ImageMask);

/// <summary>
/// One MMFSNet block (reference §1.9, <c>MMFSBlock</c> of MM-Interleaved's <c>sd_mmfs.py</c>): the UNet
/// feature map is the query (LayerNorm plus a frozen 2-D sin-cos position embedding of a
/// <c>grid × grid</c> table, bicubically resized to the map), the LayerNormed multi-scale image maps are
/// the values, each pixel samples around its own centre with MMFS, and a zero-initialised 1×1 conv
/// (ControlNet style) turns the result into a residual for the UNet. Parameter names equal the
/// published state-dict keys; <c>pos_embed</c> is a frozen parameter as in the checkpoint.
/// </summary>
public sealed class MmfsBlock : nn.Module<MmfsBlockInput, Tensor>
{
    private readonly LayerNorm query_norm;
    private readonly LayerNorm feat_norm;
    private readonly Mmfs mmfs;
    private readonly Parameter pos_embed;
    private readonly Conv2d conv;

    private readonly long _grid;

    /// <param name="config">MMFS shape with d_query = d_out = the UNet channels C_q and base_spatial_shape = the query map's side.</param>
    /// <param name="gridSize">Side of the position-embedding table (64 for SD at 512 px).</param>
    /// <param name="generator">Random source for the MMFS initialisation.</param>
    /// <param name="name">Module name.</param>
    public MmfsBlock(MmfsConfig config, long gridSize = 64, Generator? generator = null, string name = "mmfs_block") : base(name)
    {
        config.Validate(nameof(MmfsConfig));
        if (config.DOut != config.DQuery)
            throw new DeemConfigException(nameof(MmfsConfig), "d_out", $"the residual needs d_out = d_query = {config.DQuery}, found {config.DOut}");
        if (config.DQuery % 4 != 0)
            throw new DeemConfigException(nameof(MmfsConfig), "d_query", $"the 2-D sin-cos embedding needs a multiple of 4, found {config.DQuery}");
        if (gridSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(gridSize), gridSize, "must be > 0");
        _grid = gridSize;
        var C = config.DQuery;
        query_norm = nn.LayerNorm(C, eps: 1e-6);
        feat_norm = nn.LayerNorm(config.DValue, eps: 1e-6);
        mmfs = new Mmfs(config, generator, "mmfs");
        pos_embed = new Parameter(SinCos2d(C, gridSize), requires_grad: false);
        conv = nn.Conv2d(C, C, kernel_size: 1, stride: 1);
        using (torch.no_grad())
        {
            conv.weight!.zero_();
            conv.bias!.zero_();
        }
        RegisterComponents();
    }

    /// <summary>The MMFS attention inside the block (for re-initialisation).</summary>
    public Mmfs Mmfs => mmfs;

    /// <summary>
    /// The MAE-style 2-D sin-cos table [grid², dim]: row k = i·grid + j holds
    /// [sin(i·ω), cos(i·ω), sin(j·ω), cos(j·ω)] with ω_d = 10000^(−d/(dim/4)), d &lt; dim/4.
    /// </summary>
    public static Tensor SinCos2d(long dim, long grid)
    {
        using var scope = torch.NewDisposeScope();
        var omega = torch.pow(10000.0, -torch.arange(dim / 4, dtype: ScalarType.Float64) / (dim / 4.0)); // [dim/4]
        var pos = torch.arange(grid, dtype: ScalarType.Float64);                                     // [grid]
        var outer = pos.unsqueeze(1) * omega.unsqueeze(0);                                           // [grid, dim/4]
        var emb1d = torch.cat(new[] { outer.sin(), outer.cos() }, 1);                                // [grid, dim/2]
        var embH = emb1d.unsqueeze(1).expand(grid, grid, dim / 2);                                   // [grid(i), grid(j), dim/2]
        var embW = emb1d.unsqueeze(0).expand(grid, grid, dim / 2);                                   // [grid(i), grid(j), dim/2]
        var table = torch.cat(new[] { embH, embW }, 2)                                               // [grid, grid, dim]
            .reshape(grid * grid, dim)                                                               // [grid², dim]
            .to(ScalarType.Float32);
        return table.MoveToOuterDisposeScope();
    }

    public override Tensor forward(MmfsBlockInput input)
    {
        using var scope = torch.NewDisposeScope();
        var sample = input.Sample;
        if (sample.dim() != 4)
            throw new ArgumentException($"Sample: expected [B, C, H, W], found [{string.Join(", ", sample.shape)}]");
        var (B, C, H, W) = (sample.shape[0], sample.shape[1], sample.shape[2], sample.shape[3]);

        var query = sample.flatten(2).transpose(1, 2);                                               // [B, HW, C]
        query = query_norm.forward(query) + PosEmbed(H, W).to(query.dtype);                          // [B, HW, C]
        var values = feat_norm.forward(input.Features);                                             // [B, N, S, C_v]
        var reference = PixelCentres(H, W, sample.device);                                           // [1, HW, 2]

        var attended = mmfs.forward(new MmfsInput(query, reference.to(query.dtype), values,
            input.SpatialShapes, input.ImageMask));                                                  // [B, HW, C]
        var map = attended.transpose(1, 2).reshape(B, C, H, W);                                      // [B, C, H, W]
        return conv.forward(map).MoveToOuterDisposeScope();                                          // [B, C, H, W]
    }

    /// <summary>The table resized (bicubic, align_corners=False) to H×W when the map is not grid×grid.</summary>
    private Tensor PosEmbed(long H, long W)
    {
        if (H == _grid && W == _grid) return pos_embed;                                              // [HW, C]
        var C = pos_embed.shape[1];
        var table = pos_embed.to(ScalarType.Float32)
            .reshape(1, _grid, _grid, C).permute(0, 3, 1, 2);                                        // [1, C, grid, grid]
        var resized = F.interpolate(table, new[] { H, W }, mode: InterpolationMode.Bicubic,
            align_corners: false);                                                                   // [1, C, H, W]
        return resized.permute(0, 2, 3, 1).reshape(H * W, C).to(pos_embed.dtype);                   // [HW, C]
    }

    /// <summary>Reference points at the pixel centres ((j+0.5)/W, (i+0.5)/H), row-major: [1, HW, 2] as (x, y).</summary>
    private static Tensor PixelCentres(long H, long W, Device device)
    {
        var y = (torch.arange(H, dtype: ScalarType.Float32, device: device) + 0.5) / H;              // [H]
        var x = (torch.arange(W, dtype: ScalarType.Float32, device: device) + 0.5) / W;              // [W]
        var grid = torch.stack(new[]
        {
            x.unsqueeze(0).expand(H, W),                                                             // [H, W]
            y.unsqueeze(1).expand(H, W),                                                             // [H, W]
        }, -1);                                                                                      // [H, W, 2]
        return grid.reshape(1, H * W, 2);                                                            // [1, HW, 2]
    }
}
