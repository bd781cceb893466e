using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>
/// diffusers <c>AutoencoderKL</c>: the frozen SD VAE that maps images x ∈ [−1, 1] to the latent x_0 of the
/// diffusion losses (paper §2, Eqs. 3 and 5; reference §1.9, §2.2): <c>encoder</c> → <c>quant_conv</c> →
/// q(z|x); z → <c>post_quant_conv</c> → <c>decoder</c>. The UNet sees z·<see cref="ScalingFactor"/>.
/// </summary>
public sealed class AutoencoderKL : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly VaeEncoder encoder;
    private readonly VaeDecoder decoder;
    private readonly Conv2d quant_conv;
    private readonly Conv2d post_quant_conv;
#pragma warning restore IDE0044

    /// <summary>The configuration the model was built from.</summary>
    public VaeConfig Config { get; }

    /// <summary>Latent scale from the config (0.18215 for SD-2.1).</summary>
    public double ScalingFactor => Config.ScalingFactor;

    public AutoencoderKL(VaeConfig config) : base(nameof(AutoencoderKL))
    {
        Config = config.Validate("VaeConfig");
        encoder = new VaeEncoder(config);
        decoder = new VaeDecoder(config);
        quant_conv = nn.Conv2d(2 * config.LatentChannels, 2 * config.LatentChannels, 1);
        post_quant_conv = nn.Conv2d(config.LatentChannels, config.LatentChannels, 1);
        RegisterComponents();
    }

    /// <param name="x">[B, C_in, H, W] image in [−1, 1]; H and W multiples of <see cref="VaeConfig.DownsampleFactor"/>.</param>
    /// <returns>The posterior q(z|x) over [B, Cz, H/f, W/f] latents (unscaled).</returns>
    public DiagonalGaussianDistribution Encode(Tensor x)
    {
        int f = Config.DownsampleFactor;
        if (x.dim() != 4 || x.shape[1] != Config.InChannels || x.shape[2] % f != 0 || x.shape[3] % f != 0)
            throw new ArgumentException($"image: expected [B, {Config.InChannels}, H, W] with H, W multiples of {f}, found [{string.Join(", ", x.shape)}]");
        using var scope = NewDisposeScope();
        var moments = FewChannelConv.Forward(quant_conv, encoder.forward(x), padding: 0);   // [B, 2·Cz, H/f, W/f]
        var dist = new DiagonalGaussianDistribution(moments);
        dist.Mean.MoveToOuterDisposeScope();
        dist.LogVar.MoveToOuterDisposeScope();
        dist.Std.MoveToOuterDisposeScope();
        return dist;
    }

    /// <param name="z">[B, Cz, h, w] latent (unscaled: divide the UNet latent by <see cref="ScalingFactor"/> first).</param>
    /// <returns>[B, C_out, h·f, w·f] image in ≈[−1, 1].</returns>
    public Tensor Decode(Tensor z)
    {
        if (z.dim() != 4 || z.shape[1] != Config.LatentChannels)
            throw new ArgumentException($"latent: expected [B, {Config.LatentChannels}, h, w], found [{string.Join(", ", z.shape)}]");
        using var scope = NewDisposeScope();
        return decoder.forward(FewChannelConv.Forward(post_quant_conv, z, padding: 0)).MoveToOuterDisposeScope();
    }

    /// <summary>Reconstruction through the posterior mode: decode(mode(encode(x))).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var dist = Encode(x);
        return Decode(dist.Mean).MoveToOuterDisposeScope();
    }
}
