using Deem.Config;
using Deem.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Diffusion;

/// <summary>The tiny UNet: shapes, the time code, the MMFS residual hook, and gradient flow for CSR.</summary>
[Collection(GlobalTorchStateCollection.Name)]
public class UNet2DConditionModelTests
{
    static UNet2DConditionModel Tiny(int seed = 0)
    {
        torch.manual_seed(seed);
        var m = new UNet2DConditionModel(UNetConfig.Tiny);
        m.eval();
        return m;
    }

    static (Tensor x, Tensor t, Tensor c) Inputs(long B = 2, long H = 8, long W = 8)
    {
        var g = new Generator(7);
        var x = randn(new long[] { B, 4, H, W }, generator: g);
        var t = tensor(Enumerable.Range(0, (int)B).Select(i => 100L + 300 * i).ToArray());
        var c = randn(new long[] { B, 5, 64 }, generator: g);
        return (x, t, c);
    }

    [Fact]
    public void OutputHasTheLatentShapeForScalarAndBatchedTimesteps()
    {
        using var unet = Tiny();
        var (x, t, c) = Inputs();
        using var _ = no_grad();
        var y = unet.forward(new UNet2DConditionInput(x, t, c));
        Assert.Equal(new long[] { 2, 4, 8, 8 }, y.shape);
        var ys = unet.forward(new UNet2DConditionInput(x, tensor(100L), c));
        var yb = unet.forward(new UNet2DConditionInput(x, tensor(new long[] { 100, 100 }), c));
        Assert.True(allclose(ys, yb, rtol: 1e-5, atol: 1e-6));
        // The output depends on t and on the condition.
        Assert.False(allclose(y, yb, rtol: 1e-4, atol: 1e-5));
        var y2 = unet.forward(new UNet2DConditionInput(x, t, c + 1));
        Assert.False(allclose(y, y2, rtol: 1e-4, atol: 1e-5));
        // Odd sizes are upsampled to the skip's size.
        var odd = unet.forward(new UNet2DConditionInput(randn(1, 4, 7, 5), tensor(10L), randn(1, 3, 64)));
        Assert.Equal(new long[] { 1, 4, 7, 5 }, odd.shape);
        Assert.Throws<ArgumentException>(() => unet.forward(new UNet2DConditionInput(x, t, randn(2, 5, 32))));
    }

    [Fact]
    public void SinusoidMatchesTheHandFormula()
    {
        // dim 4, half 2: freqs exp(−ln(10⁴)·k/2) = 1, 0.01; flip_sin_to_cos puts cos first.
        var e = TimestepEmbedding.Sinusoid(tensor(new long[] { 0, 3 }), 4, flipSinToCos: true, freqShift: 0)
            .data<float>().ToArray();
        double[] expected = [1, 1, 0, 0, Math.Cos(3), Math.Cos(0.03), Math.Sin(3), Math.Sin(0.03)];
        for (int i = 0; i < 8; i++) Assert.Equal(expected[i], e[i], 1e-5);
        // freq_shift 1: exp(−ln(10⁴)·k/(2−1)) = 1, 1e-4; no flip keeps sin first.
        var s = TimestepEmbedding.Sinusoid(tensor(new long[] { 2 }), 4, flipSinToCos: false, freqShift: 1).data<float>().ToArray();
        double[] es = [Math.Sin(2), Math.Sin(2e-4), Math.Cos(2), Math.Cos(2e-4)];
        for (int i = 0; i < 4; i++) Assert.Equal(es[i], s[i], 1e-5);
    }

    [Fact]
    public void ZeroResidualsLeaveTheOutputUnchangedAndAMidResidualChangesIt()
    {
        using var unet = Tiny();
        var (x, t, c) = Inputs();
        using var _ = no_grad();
        var baseline = unet.forward(new UNet2DConditionInput(x, t, c));

        long[][]? seenDown = null;
        long[]? seenMid = null;
        var zeros = unet.forward(new UNet2DConditionInput(x, t, c, ResidualHook: f =>
        {
            seenDown = f.Down.Select(d => d.shape).ToArray();
            seenMid = f.Mid.shape;
            return new UNetResiduals(f.Down.Select(d => (Tensor?)zeros_like(d)).ToArray(), zeros_like(f.Mid));
        }));
        Assert.True(baseline.eq(zeros).all().item<bool>());

        // The hook sees the skips with the advertised channels and strides, and the mid output.
        Assert.NotNull(seenDown);
        var cfg = UNetConfig.Tiny;
        Assert.Equal(cfg.SkipChannels(), seenDown!.Select(d => (int)d[1]).ToArray());
        Assert.Equal(cfg.SkipStrides(), seenDown!.Select(d => (int)(8 / d[2])).ToArray());
        Assert.Equal(unet.SkipChannels, cfg.SkipChannels());
        Assert.Equal(new long[] { 2, unet.MidChannels, 8 / cfg.MidStride, 8 / cfg.MidStride }, seenMid);

        var mid = 0.5 * ones(2, cfg.MidChannels, 4, 4);
        var withMid = unet.forward(new UNet2DConditionInput(x, t, c, new UNetResiduals(new Tensor?[cfg.SkipChannels().Length], mid)));
        Assert.False(allclose(baseline, withMid, rtol: 1e-4, atol: 1e-5));
        // Precomputed residuals and the hook are the same addition.
        var viaHook = unet.forward(new UNet2DConditionInput(x, t, c,
            ResidualHook: f => new UNetResiduals(new Tensor?[f.Down.Count], mid)));
        Assert.True(allclose(withMid, viaHook, rtol: 1e-6, atol: 1e-6));
        // A residual on the first skip (conv_in output, read by the last up resnet) also changes the output.
        var down = new Tensor?[cfg.SkipChannels().Length];
        down[0] = 0.5 * ones(2, cfg.SkipChannels()[0], 8, 8);
        var withDown = unet.forward(new UNet2DConditionInput(x, t, c, new UNetResiduals(down, null)));
        Assert.False(allclose(baseline, withDown, rtol: 1e-4, atol: 1e-5));

        Assert.Throws<ArgumentException>(() => unet.forward(new UNet2DConditionInput(x, t, c, new UNetResiduals(new Tensor?[3], null))));
        Assert.Throws<ArgumentException>(() => unet.forward(new UNet2DConditionInput(x, t, c, new UNetResiduals(new Tensor?[4], ones(2, 7, 4, 4)))));
    }

    [Fact]
    public void FrozenUNetPassesGradientToTheConditionAndResidualsOnly()
    {
        using var unet = Tiny();
        foreach (var p in unet.parameters()) p.requires_grad = false;
        var (x, t, c) = Inputs();
        c.requires_grad = true;
        var mid = zeros(2, UNetConfig.Tiny.MidChannels, 4, 4).requires_grad_(true);
        var y = unet.forward(new UNet2DConditionInput(x, t, c, new UNetResiduals(new Tensor?[4], mid)));
        var loss = (y - randn_like(y)).pow(2).mean();
        loss.backward();
        Assert.NotNull(c.grad);
        Assert.True(c.grad!.abs().sum().item<float>() > 0);
        Assert.NotNull(mid.grad);
        Assert.True(mid.grad!.abs().sum().item<float>() > 0);
        Assert.All(unet.parameters(), p => Assert.True(p.grad is null));
    }

    [Fact]
    public void TinyStateDictUsesDiffusersNames()
    {
        using var unet = Tiny();
        var keys = unet.state_dict().Keys.ToHashSet();
        Assert.Contains("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", keys);
        Assert.Contains("down_blocks.0.downsamplers.0.conv.weight", keys);
        Assert.Contains("down_blocks.1.resnets.0.conv_shortcut.weight", keys);
        Assert.Contains("up_blocks.0.upsamplers.0.conv.weight", keys);
        Assert.Contains("up_blocks.1.attentions.1.proj_out.weight", keys);
        Assert.Contains("mid_block.attentions.0.transformer_blocks.0.ff.net.2.weight", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("down_blocks.1.attentions") || k.StartsWith("up_blocks.0.attentions"));
        Assert.DoesNotContain(keys, k => k.Contains("time_proj")); // the sinusoid has no weights
        // Every GroupNorm starts as the identity affine map (γ = 1, β = 0), as in PyTorch.
        var sd = unet.state_dict();
        foreach (var k in keys.Where(k => k.EndsWith("norm1.weight") || k.EndsWith("norm.weight") || k == "conv_norm_out.weight"))
            Assert.True(sd[k].eq(1).all().item<bool>(), k);
        foreach (var k in keys.Where(k => k.EndsWith("norm2.bias") || k.EndsWith("norm.bias")))
            Assert.True(sd[k].eq(0).all().item<bool>(), k);
    }

    [Fact]
    public void ForwardLeavesNoLiveTensorsBehind()
    {
        using var unet = Tiny();
        var (x, t, c) = Inputs();
        using var _ = no_grad();
        unet.forward(new UNet2DConditionInput(x, t, c)).Dispose();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) unet.forward(new UNet2DConditionInput(x, t, c)).Dispose();
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.True(before == after, $"live tensors: {before} before, {after} after 3 forwards");
    }

    [Fact]
    public void PublishedUNetConfigParsesToTheSdPreset()
    {
        // stabilityai/stable-diffusion-2-1-base unet/config.json
        const string json = """
        {
          "_class_name": "UNet2DConditionModel",
          "_diffusers_version": "0.10.0.dev0",
          "act_fn": "silu",
          "attention_head_dim": [5, 10, 20, 20],
          "block_out_channels": [320, 640, 1280, 1280],
          "center_input_sample": false,
          "cross_attention_dim": 1024,
          "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
          "downsample_padding": 1,
          "dual_cross_attention": false,
          "flip_sin_to_cos": true,
          "freq_shift": 0,
          "in_channels": 4,
          "layers_per_block": 2,
          "mid_block_scale_factor": 1,
          "norm_eps": 1e-05,
          "norm_num_groups": 32,
          "num_class_embeds": null,
          "only_cross_attention": false,
          "out_channels": 4,
          "sample_size": 64,
          "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
          "upcast_attention": false,
          "use_linear_projection": true
        }
        """;
        var c = ConfigJson.Parse<UNetConfig>(json, "unet/config.json").Validate("unet/config.json");
        var p = UNetConfig.Sd21Base;
        Assert.Equal(p.BlockOutChannels, c.BlockOutChannels);
        Assert.Equal(p.AttentionHeadDim, c.AttentionHeadDim);
        Assert.Equal(p.DownBlockTypes, c.DownBlockTypes);
        Assert.Equal(p.UpBlockTypes, c.UpBlockTypes);
        Assert.Equal((p.CrossAttentionDim, p.UseLinearProjection, p.SampleSize, p.LayersPerBlock, p.NormEps),
            (c.CrossAttentionDim, c.UseLinearProjection, c.SampleSize, c.LayersPerBlock, c.NormEps));
        // SD-1 style scalar attention_head_dim is broadcast to every block.
        var sd1 = ConfigJson.Parse<UNetConfig>("""{"attention_head_dim": 8}""", "sd1");
        Assert.Equal(8, sd1.HeadsOfBlock(3));
        var bad = Assert.Throws<DeemConfigException>(() => (UNetConfig.Tiny with { AttentionHeadDim = [3] }).Validate("tiny"));
        Assert.Equal("attention_head_dim", bad.Field);
        Assert.Throws<DeemConfigException>(() => (UNetConfig.Tiny with { UpBlockTypes = ["UpBlock2D"] }).Validate("tiny"));
    }
}
