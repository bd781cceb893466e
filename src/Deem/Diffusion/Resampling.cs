using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Diffusion;

/// <summary>
/// diffusers <c>Downsample2D</c> with a convolution (key <c>downsamplers.0.conv</c>): a 3×3 stride-2 conv.
/// The UNet pads by 1 inside the conv; the VAE uses padding 0 after an asymmetric (0, 1, 0, 1) zero pad,
/// as the original LDM autoencoder does.
/// </summary>
public sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly Conv2d conv;
#pragma warning restore IDE0044
    readonly long _padding;

    public Downsample2D(long channels, long padding) : base(nameof(Downsample2D))
    {
        _padding = padding;
        conv = nn.Conv2d(channels, channels, 3, stride: 2, padding: padding);
        RegisterComponents();
    }

    /// <param name="x">[B, C, H, W]</param>
    /// <returns>[B, C, ⌈H/2⌉, ⌈W/2⌉]</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        if (_padding == 0) x = F.pad(x, [0, 1, 0, 1]); // [B, C, H+1, W+1]
        return conv.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers <c>Upsample2D</c> with a convolution (key <c>upsamplers.0.conv</c>): nearest-neighbour ×2
/// (or to an explicit size when the skip tensor is odd-sized) followed by a 3×3 conv.
/// </summary>
public sealed class Upsample2D : nn.Module<Tensor, long[]?, Tensor>
{
#pragma warning disable IDE0044
    private readonly Conv2d conv;
#pragma warning restore IDE0044

    public Upsample2D(long channels) : base(nameof(Upsample2D))
    {
        conv = nn.Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    /// <param name="x">[B, C, H, W]</param>
    /// <param name="size">Target (H', W'), or null for 2H × 2W.</param>
    public override Tensor forward(Tensor x, long[]? size)
    {
        using var scope = NewDisposeScope();
        var up = size is null
            ? F.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest) // [B, C, 2H, 2W]
            : F.interpolate(x, size: size, mode: InterpolationMode.Nearest);              // [B, C, H', W']
        return conv.forward(up).MoveToOuterDisposeScope();
    }
}
