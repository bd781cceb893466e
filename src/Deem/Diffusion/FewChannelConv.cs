using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Diffusion;

/// <summary>
/// A convolution with few output channels (the UNet's and the VAE's <c>conv_out</c>, the VAE's quant convs)
/// run so that its backward stays finite. libtorch 2.10's CPU convolution backward computes the input gradient
/// of a convolution with at most 8 output channels from memory it did not write, multiplied by zero: the
/// values come out right unless that memory last held NaN or ±inf (a freed attention mask's −inf, say), and
/// then the input gradient is NaN. Measured with NaN-filled buffers freed before each call: 16–47 of 100
/// backward calls of a 3×3, 32 → 4 or 8 channel convolution, none at 16 channels or more
/// (<c>FewChannelConvTests</c>). While autograd records, the weight gets zero filters up to
/// <see cref="MinChannels"/> outputs and the result is narrowed back: the same values and gradients, through a
/// kernel that reads only what it wrote. Without a gradient the module's own convolution runs.
/// </summary>
public static class FewChannelConv
{
    /// <summary>Output channels from which the CPU backward reads only what it wrote.</summary>
    public const int MinChannels = 16;

    /// <summary><paramref name="conv"/> (stride 1, square <paramref name="padding"/>) applied to <paramref name="x"/>.</summary>
    public static Tensor Forward(Conv2d conv, Tensor x, long padding)
    {
        var w = conv.weight!;
        long cout = w.shape[0];
        bool recording = is_grad_enabled() && (x.requires_grad || w.requires_grad);
        if (cout >= MinChannels || !recording || x.device_type != DeviceType.CPU) return conv.forward(x);
        using var scope = NewDisposeScope();
        var pad = zeros(new[] { MinChannels - cout, w.shape[1], w.shape[2], w.shape[3] }, dtype: w.dtype, device: w.device);
        var weight = cat(new[] { w, pad }, 0);                                                  // [16, C_in, k, k]
        var bias = conv.bias is { } b ? cat(new[] { b, zeros(MinChannels - cout, dtype: b.dtype, device: b.device) }, 0) : null;  // [16]
        var y = F.conv2d(x, weight, bias, padding: new[] { padding, padding });                 // [B, 16, H, W]
        return y.narrow(1, 0, cout).MoveToOuterDisposeScope();                                  // [B, C_out, H, W]
    }
}
