using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Diffusion;

/// <summary>
/// diffusers <c>ResnetBlock2D</c> (time_embedding_norm "default", output scale 1): the residual unit of
/// the SD UNet and VAE (reference §1.9). h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb));
/// h = conv2(silu(norm2(h))); out = shortcut(x) + h. Without a time embedding (VAE) there is no
/// <c>time_emb_proj</c>; with equal in/out channels there is no <c>conv_shortcut</c>.
/// </summary>
public sealed class ResnetBlock2D : nn.Module<Tensor, Tensor?, Tensor>
{
#pragma warning disable IDE0044
    private readonly GroupNorm norm1;
    private readonly Conv2d conv1;
    private readonly Linear? time_emb_proj;
    private readonly GroupNorm norm2;
    private readonly Conv2d conv2;
    private readonly Conv2d? conv_shortcut;
#pragma warning restore IDE0044

    /// <param name="inChannels">Channels of x.</param>
    /// <param name="outChannels">Channels of the output.</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">GroupNorm epsilon (1e-5 UNet, 1e-6 VAE).</param>
    /// <param name="tembChannels">Width of the time embedding, or null for a block without one (VAE).</param>
    public ResnetBlock2D(long inChannels, long outChannels, long? tembChannels, long groups, double eps)
        : base(nameof(ResnetBlock2D))
    {
        norm1 = Norms.GroupNorm(groups, inChannels, eps);
        conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        if (tembChannels is long tc) time_emb_proj = nn.Linear(tc, outChannels);
        norm2 = Norms.GroupNorm(groups, outChannels, eps);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) conv_shortcut = nn.Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    /// <param name="x">[B, Cin, H, W]</param>
    /// <param name="temb">[B, Ct] time embedding, or null when the block has none.</param>
    /// <returns>[B, Cout, H, W]</returns>
    public override Tensor forward(Tensor x, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(F.silu(norm1.forward(x)));
        if (time_emb_proj is not null)
        {
            if (temb is null) throw new ArgumentException("ResnetBlock2D: this block needs the time embedding 'temb', found null");
            h = h + time_emb_proj.forward(F.silu(temb))[.., .., TensorIndex.None, TensorIndex.None]; // [B, Cout, 1, 1] broadcast
        }
        h = conv2.forward(F.silu(norm2.forward(h)));
        var shortcut = conv_shortcut is null ? x : conv_shortcut.forward(x);
        return (shortcut + h).MoveToOuterDisposeScope();
    }
}
