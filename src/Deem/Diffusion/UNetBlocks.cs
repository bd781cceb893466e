using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>Input of a UNet down or mid block.</summary>
/// <param name="Hidden">[B, C, H, W] feature map.</param>
/// <param name="Temb">[B, Dt] time embedding.</param>
/// <param name="Context">[B, M, Dc] condition tokens (encoder_hidden_states).</param>
public sealed record UNetBlockInput(Tensor Hidden, Tensor Temb, Tensor Context);

/// <summary>Output of a UNet down block: the new feature map and the skip tensors it keeps, in order.</summary>
public sealed record UNetDownBlockOutput(Tensor Hidden, Tensor[] Skips);

/// <summary>Input of a UNet up block.</summary>
/// <param name="Hidden">[B, C, H, W] map from the previous up block or the mid block.</param>
/// <param name="Temb">[B, Dt] time embedding.</param>
/// <param name="Context">[B, M, Dc] condition tokens.</param>
/// <param name="Skips">The skip tensors this block consumes, in the order they were produced (the last is used first).</param>
/// <param name="UpsampleSize">Output (H, W) of the upsampler when it is not 2× (odd-sized skips), else null.</param>
public sealed record UNetUpBlockInput(Tensor Hidden, Tensor Temb, Tensor Context, Tensor[] Skips, long[]? UpsampleSize);

/// <summary>
/// diffusers <c>CrossAttnDownBlock2D</c> (with <c>attentions</c>) or <c>DownBlock2D</c> (without):
/// <c>resnets.{j}</c> ResnetBlock2D, each followed by <c>attentions.{j}</c> Transformer2DModel when
/// cross-attention is on, then optionally <c>downsamplers.0</c>. Every resnet/attention output and the
/// downsampler output are kept as skip tensors (reference §1.9: the tensors MMFSNet adds to).
/// </summary>
public sealed class UNetDownBlock : nn.Module<UNetBlockInput, UNetDownBlockOutput>
{
#pragma warning disable IDE0044
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel>? attentions;
    private readonly ModuleList<Downsample2D>? downsamplers;
#pragma warning restore IDE0044

    public UNetDownBlock(long inChannels, long outChannels, long tembChannels, int layers, bool crossAttention,
        bool addDownsample, long heads, long crossAttentionDim, long groups, double eps, bool useLinearProjection, long downsamplePadding)
        : base(crossAttention ? "CrossAttnDownBlock2D" : "DownBlock2D")
    {
        resnets = new ModuleList<ResnetBlock2D>();
        if (crossAttention) attentions = new ModuleList<Transformer2DModel>();
        for (int j = 0; j < layers; j++)
        {
            resnets.Add(new ResnetBlock2D(j == 0 ? inChannels : outChannels, outChannels, tembChannels, groups, eps));
            attentions?.Add(new Transformer2DModel(outChannels, heads, crossAttentionDim, groups, useLinearProjection));
        }
        if (addDownsample) downsamplers = new ModuleList<Downsample2D>(new Downsample2D(outChannels, downsamplePadding));
        RegisterComponents();
    }

    /// <summary>Number of skip tensors this block produces.</summary>
    public int SkipCount => resnets.Count + (downsamplers is null ? 0 : 1);

    public override UNetDownBlockOutput forward(UNetBlockInput input)
    {
        using var scope = NewDisposeScope();
        var h = input.Hidden;
        var skips = new List<Tensor>();
        for (int j = 0; j < resnets.Count; j++)
        {
            h = resnets[j].forward(h, input.Temb);                             // [B, Cout, H, W]
            if (attentions is not null) h = attentions[j].forward(h, input.Context);
            skips.Add(h);
        }
        if (downsamplers is not null)
        {
            h = downsamplers[0].forward(h);                                    // [B, Cout, H/2, W/2]
            skips.Add(h);
        }
        // h is also the last skip when there is no downsampler: move each tensor out exactly once.
        foreach (var s in skips) s.MoveToOuterDisposeScope();
        if (!ReferenceEquals(h, skips[^1])) h.MoveToOuterDisposeScope();
        return new UNetDownBlockOutput(h, skips.ToArray());
    }
}

/// <summary>
/// diffusers <c>CrossAttnUpBlock2D</c> (with <c>attentions</c>) or <c>UpBlock2D</c> (without):
/// layers_per_block + 1 resnets, each fed the concatenation [h, skip] of the current map and the most
/// recent unused skip tensor (UNet skip connection), then optionally <c>upsamplers.0</c>.
/// </summary>
public sealed class UNetUpBlock : nn.Module<UNetUpBlockInput, Tensor>
{
#pragma warning disable IDE0044
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel>? attentions;
    private readonly ModuleList<Upsample2D>? upsamplers;
#pragma warning restore IDE0044

    /// <param name="inChannels">Channels of the down block this one mirrors at its input (used by the last skip).</param>
    /// <param name="outChannels">Channels of this block's output.</param>
    /// <param name="tembChannels">Width of the time embedding.</param>
    /// <param name="layers">Number of resnets (layers_per_block + 1).</param>
    /// <param name="crossAttention">CrossAttnUpBlock2D (true) or UpBlock2D (false).</param>
    /// <param name="addUpsample">Whether the block ends with upsamplers.0.</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="crossAttentionDim">Width of the condition tokens.</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">GroupNorm epsilon.</param>
    /// <param name="useLinearProjection">Linear (SD-2) or 1×1-conv (SD-1) proj_in/proj_out.</param>
    /// <param name="prevOutputChannels">Channels of the map arriving from the previous up block (or the mid block).</param>
    public UNetUpBlock(long inChannels, long outChannels, long prevOutputChannels, long tembChannels, int layers, bool crossAttention,
        bool addUpsample, long heads, long crossAttentionDim, long groups, double eps, bool useLinearProjection)
        : base(crossAttention ? "CrossAttnUpBlock2D" : "UpBlock2D")
    {
        resnets = new ModuleList<ResnetBlock2D>();
        if (crossAttention) attentions = new ModuleList<Transformer2DModel>();
        for (int j = 0; j < layers; j++)
        {
            long skipChannels = j == layers - 1 ? inChannels : outChannels;
            long resnetIn = j == 0 ? prevOutputChannels : outChannels;
            resnets.Add(new ResnetBlock2D(resnetIn + skipChannels, outChannels, tembChannels, groups, eps));
            attentions?.Add(new Transformer2DModel(outChannels, heads, crossAttentionDim, groups, useLinearProjection));
        }
        if (addUpsample) upsamplers = new ModuleList<Upsample2D>(new Upsample2D(outChannels));
        RegisterComponents();
    }

    /// <summary>Number of skip tensors this block consumes (= its resnets).</summary>
    public int SkipCount => resnets.Count;

    public override Tensor forward(UNetUpBlockInput input)
    {
        using var scope = NewDisposeScope();
        if (input.Skips.Length != resnets.Count)
            throw new ArgumentException($"{GetName()}: expected {resnets.Count} skip tensors, found {input.Skips.Length}");
        var h = input.Hidden;
        for (int j = 0; j < resnets.Count; j++)
        {
            var skip = input.Skips[^(j + 1)];
            h = cat([h, skip], 1);                                             // [B, C + Cskip, H, W]
            h = resnets[j].forward(h, input.Temb);                             // [B, Cout, H, W]
            if (attentions is not null) h = attentions[j].forward(h, input.Context);
        }
        if (upsamplers is not null) h = upsamplers[0].forward(h, input.UpsampleSize); // [B, Cout, 2H, 2W]
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers <c>UNetMidBlock2DCrossAttn</c>: <c>resnets.0</c> → <c>attentions.0</c> → <c>resnets.1</c> at the
/// lowest resolution. Its output is where DEEM's MMFSNet adds the mid-block residual (reference §1.9).
/// </summary>
public sealed class UNetMidBlock2DCrossAttn : nn.Module<UNetBlockInput, Tensor>
{
#pragma warning disable IDE0044
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel> attentions;
#pragma warning restore IDE0044

    public UNetMidBlock2DCrossAttn(long channels, long tembChannels, long heads, long crossAttentionDim, long groups, double eps, bool useLinearProjection)
        : base(nameof(UNetMidBlock2DCrossAttn))
    {
        resnets = new ModuleList<ResnetBlock2D>(
            new ResnetBlock2D(channels, channels, tembChannels, groups, eps),
            new ResnetBlock2D(channels, channels, tembChannels, groups, eps));
        attentions = new ModuleList<Transformer2DModel>(
            new Transformer2DModel(channels, heads, crossAttentionDim, groups, useLinearProjection));
        RegisterComponents();
    }

    public override Tensor forward(UNetBlockInput input)
    {
        using var scope = NewDisposeScope();
        var h = resnets[0].forward(input.Hidden, input.Temb);
        h = attentions[0].forward(h, input.Context);
        h = resnets[1].forward(h, input.Temb);
        return h.MoveToOuterDisposeScope();
    }
}
