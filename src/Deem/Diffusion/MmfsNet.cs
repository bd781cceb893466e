using Deem.Attention;
using Deem.Config;
using Deem.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>Input of <see cref="MmfsNet"/>.</summary>
/// <param name="DownBlockResSamples">The UNet's down-block skip tensors, each [B, C_i, H_i, W_i] (12 for SD-2.1: conv_in, then per block its resnets and downsampler).</param>
/// <param name="MidBlockSample">[B, C_mid, H, W]: the mid-block output.</param>
/// <param name="Features">The conditioning images' multi-scale maps, one [B, N, C_v, H_l, W_l] per level.</param>
/// <param name="ImageMask">[B, N] (bool or 0/1): 0 where there is no conditioning image (its features are zeros).</param>
public sealed record MmfsNetInput(Tensor[] DownBlockResSamples, Tensor MidBlockSample, Tensor[] Features, Tensor ImageMask);

/// <summary>The residuals to add to the UNet skips (same shapes as the inputs), like a ControlNet's output.</summary>
public sealed record MmfsNetOutput(Tensor[] DownBlockResiduals, Tensor MidBlockResidual);

/// <summary>
/// MMFSNet (reference §1.9, MM-Interleaved <c>sd_mmfs.py</c>): one <see cref="MmfsBlock"/> per UNet
/// down-block skip tensor and one for the mid block (13 for SD-2.1). Each block reads the
/// conditioning image's multi-scale maps through MMFS at its own pixels and returns a residual
/// through a zero-initialised 1×1 conv, so at initialisation the UNet is unchanged. Skip i's offsets
/// are measured on base side <c>spatial_shapes[i / 3] / downsample</c> (three skips per UNet
/// resolution), the mid block's on the last level's side. Keys: <c>mmfs_down_blocks.{i}.…</c>,
/// <c>mmfs_mid_block.…</c>.
/// </summary>
public sealed class MmfsNet : nn.Module<MmfsNetInput, MmfsNetOutput>
{
    private readonly ModuleList<MmfsBlock> mmfs_down_blocks;
    private readonly MmfsBlock mmfs_mid_block;

    /// <param name="skipChannels">Channels of each down-block skip tensor (SD-2.1: 320×4, 640×3, 1280×5).</param>
    /// <param name="midChannels">Channels of the mid-block output (SD-2.1: 1280).</param>
    /// <param name="config">
    /// The shared MMFS shape (<see cref="MmfsConfig.MmfsNetPaper"/>); d_query, d_out and
    /// base_spatial_shape are replaced per block.
    /// </param>
    /// <param name="downsampleFactor">512 / image size of the diffusion model (1 for SD-2.1 at 512 px).</param>
    /// <param name="skipBaseSides">Per-skip base sides, overriding the three-per-resolution rule (for UNets of another shape).</param>
    /// <param name="midBaseSide">Base side of the mid block, overriding the last level's side.</param>
    /// <param name="posEmbedGrid">Side of the position-embedding table before dividing by the downsample factor (64).</param>
    /// <param name="generator">Random source for the MMFS initialisation.</param>
    /// <param name="name">Module name.</param>
    public MmfsNet(IReadOnlyList<long> skipChannels, long midChannels, MmfsConfig config, long downsampleFactor = 1,
        IReadOnlyList<long>? skipBaseSides = null, long? midBaseSide = null, long posEmbedGrid = 64,
        Generator? generator = null, string name = "mmfs_module") : base(name)
    {
        config.Validate(nameof(MmfsConfig));
        if (downsampleFactor <= 0 || posEmbedGrid % downsampleFactor != 0)
            throw new ArgumentOutOfRangeException(nameof(downsampleFactor), downsampleFactor,
                $"must be > 0 and divide the position grid {posEmbedGrid}");
        if (skipBaseSides is not null && skipBaseSides.Count != skipChannels.Count)
            throw new ArgumentException($"skipBaseSides: expected {skipChannels.Count} sides (one per skip), found {skipBaseSides.Count}");
        var levelSides = config.SpatialShapes.Select(s => s / downsampleFactor).ToArray();
        if (skipBaseSides is null && (skipChannels.Count + 2) / 3 > levelSides.Length)
            throw new ArgumentException(
                $"skipChannels: {skipChannels.Count} skips need {(skipChannels.Count + 2) / 3} resolutions under the three-per-resolution rule, " +
                $"but spatial_shapes has {levelSides.Length}; pass skipBaseSides");
        var grid = posEmbedGrid / downsampleFactor;

        MmfsBlock Block(long channels, long baseSide) =>
            new(config with { DQuery = channels, DOut = channels, BaseSpatialShape = baseSide }, grid, generator);

        var blocks = new List<MmfsBlock>();
        for (var i = 0; i < skipChannels.Count; i++)
            blocks.Add(Block(skipChannels[i], skipBaseSides?[i] ?? levelSides[i / 3]));
        mmfs_down_blocks = nn.ModuleList(blocks.ToArray());
        mmfs_mid_block = Block(midChannels, midBaseSide ?? levelSides[^1]);
        RegisterComponents();
    }

    /// <summary>The SD-2.1 skip channels for block_out_channels (320, 640, 1280, 1280) and 2 layers per block.</summary>
    public static long[] SkipChannelsFor(IReadOnlyList<long> blockOutChannels, int layersPerBlock)
    {
        var channels = new List<long> { blockOutChannels[0] };                                       // conv_in
        for (var i = 0; i < blockOutChannels.Count; i++)
        {
            for (var j = 0; j < layersPerBlock; j++) channels.Add(blockOutChannels[i]);              // resnets
            if (i < blockOutChannels.Count - 1) channels.Add(blockOutChannels[i]);                   // downsampler
        }
        return channels.ToArray();
    }

    /// <summary>Recompute each block in the backward pass instead of keeping its activations.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>The 12 + 1 blocks, down blocks first (for re-initialisation and inspection).</summary>
    public IEnumerable<MmfsBlock> Blocks => mmfs_down_blocks.Append(mmfs_mid_block);

    public override MmfsNetOutput forward(MmfsNetInput input)
    {
        using var scope = torch.NewDisposeScope();
        if (input.DownBlockResSamples.Length != mmfs_down_blocks.Count)
            throw new ArgumentException(
                $"DownBlockResSamples: expected {mmfs_down_blocks.Count} skip tensors, found {input.DownBlockResSamples.Length}");
        if (input.Features.Length == 0)
            throw new ArgumentException("Features: expected one map per level, found none");
        foreach (var f in input.Features)
            if (f.dim() != 5)
                throw new ArgumentException($"Features: expected [B, N, C, H_l, W_l] per level, found [{string.Join(", ", f.shape)}]");

        var shapes = input.Features.Select(f => (f.shape[3], f.shape[4])).ToArray();
        var flat = torch.cat(input.Features.Select(f => f.flatten(3)                                // [B, N, C, H_l·W_l]
                .transpose(2, 3)).ToArray(),                                                         // [B, N, H_l·W_l, C]
            2);                                                                                      // [B, N, S, C]

        bool recompute = ActivationCheckpoint.Applies(GradientCheckpointing);
        Tensor Block(MmfsBlock block, Tensor sample) => recompute
            ? ActivationCheckpoint.Run(block, x => block.forward(new MmfsBlockInput(x[0]!, x[1]!, shapes, x[2]!)), sample, flat, input.ImageMask)
            : block.forward(new MmfsBlockInput(sample, flat, shapes, input.ImageMask));

        var down = new Tensor[mmfs_down_blocks.Count];
        for (var i = 0; i < down.Length; i++)
            down[i] = Block(mmfs_down_blocks[i], input.DownBlockResSamples[i]).MoveToOuterDisposeScope();   // [B, C_i, H_i, W_i]
        var mid = Block(mmfs_mid_block, input.MidBlockSample).MoveToOuterDisposeScope();                     // [B, C_mid, H, W]
        return new MmfsNetOutput(down, mid);
    }
}
