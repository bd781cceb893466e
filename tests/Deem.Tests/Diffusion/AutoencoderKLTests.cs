using Deem.Config;
using Deem.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Diffusion;

/// <summary>The tiny VAE and the diagonal-Gaussian posterior.</summary>
public class AutoencoderKLTests
{
    [Fact]
    public void EncodeDecodeShapesFollowTheDownsampleFactor()
    {
        var g = new Generator(0);
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        Assert.Equal(8, VaeConfig.Tiny.DownsampleFactor);
        Assert.Equal(0.18215, vae.ScalingFactor);
        using var _ = no_grad();
        var x = rand([2, 3, 64, 64], generator: g) * 2 - 1;
        using var q = vae.Encode(x);
        Assert.Equal(new long[] { 2, 4, 8, 8 }, q.Mean.shape);
        Assert.Equal(new long[] { 2, 4, 8, 8 }, q.LogVar.shape);
        var img = vae.Decode(q.Sample(new Generator(1)));
        Assert.Equal(new long[] { 2, 3, 64, 64 }, img.shape);
        Assert.Equal(new long[] { 2, 3, 64, 64 }, vae.forward(x).shape);
        // Non-square sizes work too; sizes that are not multiples of 8 are rejected.
        using var q2 = vae.Encode(rand([1, 3, 32, 48], generator: g));
        Assert.Equal(new long[] { 1, 4, 4, 6 }, q2.Mean.shape);
        Assert.Throws<ArgumentException>(() => vae.Encode(rand([1, 3, 60, 64], generator: g)));
    }

    [Fact]
    public void DiagonalGaussianClampsLogVarAndSamplesReproducibly()
    {
        var mean = tensor(new float[] { 0.5f, -1f, 2f }).reshape(1, 3, 1, 1);
        var logvar = tensor(new float[] { 50f, -100f, (float)Math.Log(0.25) }).reshape(1, 3, 1, 1);
        using var d = new DiagonalGaussianDistribution(cat([mean, logvar], 1));
        var lv = d.LogVar.data<float>().ToArray();
        Assert.Equal(new[] { 20f, -30f, (float)Math.Log(0.25) }, lv);
        Assert.Equal(0.5f, d.Std.data<float>()[2], 1e-6f);
        Assert.True(d.Mode().eq(mean).all().item<bool>());

        var a = d.Sample(new Generator(11));
        var b = d.Sample(new Generator(11));
        Assert.True(a.eq(b).all().item<bool>());
        var eps = randn(new long[] { 1, 3, 1, 1 }, generator: new Generator(11));
        Assert.True(allclose(a, mean + d.Std * eps, rtol: 1e-6, atol: 1e-6));
        Assert.False(allclose(a, d.Sample(new Generator(12))));
        Assert.Throws<ArgumentException>(() => new DiagonalGaussianDistribution(ones(1, 3, 2, 2)));
    }

    [Fact]
    public void PublishedVaeConfigParsesToTheSdPreset()
    {
        // stabilityai/stable-diffusion-2-1-base vae/config.json
        const string json = """
        {
          "_class_name": "AutoencoderKL",
          "_diffusers_version": "0.10.0.dev0",
          "act_fn": "silu",
          "block_out_channels": [128, 256, 512, 512],
          "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
          "in_channels": 3,
          "latent_channels": 4,
          "layers_per_block": 2,
          "norm_num_groups": 32,
          "out_channels": 3,
          "sample_size": 768,
          "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
        }
        """;
        var c = ConfigJson.Parse<VaeConfig>(json, "vae/config.json").Validate("vae/config.json");
        var p = VaeConfig.Sd21Base;
        Assert.Equal(p.BlockOutChannels, c.BlockOutChannels);
        Assert.Equal((p.LayersPerBlock, p.LatentChannels, p.NormNumGroups, p.SampleSize, p.ScalingFactor),
            (c.LayersPerBlock, c.LatentChannels, c.NormNumGroups, c.SampleSize, c.ScalingFactor));
        var bad = Assert.Throws<DeemConfigException>(() => (VaeConfig.Tiny with { NormNumGroups = 5 }).Validate("tiny"));
        Assert.Equal("block_out_channels", bad.Field);
    }

    [Fact]
    public void FrozenVaeDecoderPassesGradientToTheLatent()
    {
        var g = new Generator(0);
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        foreach (var p in vae.parameters()) p.requires_grad = false;
        var z = randn([1, 4, 8, 8], generator: g).requires_grad_(true);
        vae.Decode(z).pow(2).mean().backward();
        Assert.NotNull(z.grad);
        Assert.True(z.grad!.abs().sum().item<float>() > 0);
        Assert.All(vae.parameters(), p => Assert.True(p.grad is null));
    }
}
