using Deem.Config;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Vision;

public class ImageEncoderTests
{
    [Theory]
    [InlineData(64, 64)]
    [InlineData(256, 256)]
    [InlineData(64, 96)]
    public void OutputShapes(int height, int width)
    {
        var enc = new ImageEncoder(VisionEncoderConfig.Tiny);
        enc.eval();
        var o = enc.forward(rand(2, 3, height, width));
        long h16 = height / 16, w16 = width / 16;
        Assert.Equal(new long[] { 2, 1 + h16 * w16, 64 }, o.Tokens.shape);
        Assert.Equal(new long[] { 1 + h16 * w16, 64 }, o.TokenPosEmbed.shape);
        for (var i = 0; i < 4; i++)
        {
            var s = 4 << i;
            Assert.Equal(new long[] { 2, 64, height / s, width / s }, o.Maps[i].shape);
        }
    }

    [Fact]
    public void MapsCarryThePositionTableAndTokensAreStage3()
    {
        var cfg = VisionEncoderConfig.Tiny with { ClipNormalize = false };
        var enc = new ImageEncoder(cfg);
        enc.eval();
        var x = rand(1, 3, 256, 256);
        var raw = enc.VisionModel.forward(x);
        var o = enc.forward(x);
        for (var i = 0; i < 4; i++)
        {
            var m = raw.Maps[i];
            var pe = SinCosPositionEmbedding.ForMap(enc.PosEmbed, m.shape[2], m.shape[3]);
            Assert.True(o.Maps[i].allclose(m.add(pe.unsqueeze(0)), rtol: 0, atol: 1e-6));
        }
        // The last map is 8×8 = the Tiny base grid: the table is added without resizing.
        Assert.Equal(enc.PosEmbed[1 + 3 * 8 + 5, 7].item<float>(),
            o.Maps[3][0, 7, 3, 5].item<float>() - raw.Maps[3][0, 7, 3, 5].item<float>(), 1e-5);
        // Tokens = CLS then the flattened stage-3 (H/16) adapted map, before any position table.
        var grid = raw.Maps[2].flatten(2).transpose(1, 2);
        Assert.True(o.Tokens.narrow(1, 1, 256).allclose(grid, rtol: 0, atol: 0));
        Assert.True(o.TokenPosEmbed.allclose(SinCosPositionEmbedding.ForTokens(enc.PosEmbed, 16, 16), rtol: 0, atol: 0));
    }

    [Fact]
    public void NormalisationIsOutOfPlaceAndUsesClipStatistics()
    {
        var withNorm = new ImageEncoder(VisionEncoderConfig.Tiny);
        var withoutNorm = new ImageEncoder(VisionEncoderConfig.Tiny with { ClipNormalize = false });
        withoutNorm.load_state_dict(withNorm.state_dict());
        withNorm.eval();
        withoutNorm.eval();

        var images = rand(2, 3, 64, 64);
        var copy = images.clone();
        var a = withNorm.forward(images);
        Assert.True(images.allclose(copy, rtol: 0, atol: 0));

        var mean = tensor(ImageEncoder.ClipMean).reshape(1, 3, 1, 1);
        var std = tensor(ImageEncoder.ClipStd).reshape(1, 3, 1, 1);
        var b = withoutNorm.forward(images.sub(mean).div(std));
        Assert.True(a.Tokens.allclose(b.Tokens, rtol: 1e-5, atol: 1e-5));
        Assert.True(a.Maps[0].allclose(b.Maps[0], rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void GradientsReachTheTrunk()
    {
        // Stochastic depth off: a dropped residual branch would (rightly) get no gradient and make
        // the check depend on the draw. DropPath has its own tests.
        var cfg = VisionEncoderConfig.Tiny with { Trunk = ConvNextConfig.Tiny with { DropPathRate = 0.0 } };
        var enc = new ImageEncoder(cfg);
        enc.train();
        var o = enc.forward(rand(2, 3, 64, 64));
        var loss = o.Tokens.pow(2).mean();
        foreach (var m in o.Maps) loss = loss.add(m.pow(2).mean());
        loss.backward();
        var grads = enc.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
        foreach (var name in new[]
                 {
                     "vision_model.visual.trunk.stem.0.weight",
                     "vision_model.visual.trunk.stages.0.blocks.0.conv_dw.weight",
                     "vision_model.visual.trunk.stages.2.blocks.1.gamma",
                     "vision_model.visual.trunk.stages.3.downsample.1.weight",
                     "vision_model.visual.trunk.head.norm.weight",
                     "vision_model.adapter_c2.weight",
                     "vision_model.adapter_cls.weight",
                 })
        {
            var g = grads[name];
            Assert.NotNull(g);
            Assert.True(g!.abs().sum().item<float>() > 0, name);
        }
    }

    [Fact]
    public void StateDictKeysFollowDeemSnifferNesting()
    {
        var keys = new ImageEncoder(VisionEncoderConfig.Tiny).state_dict().Keys.ToHashSet();
        var expected = new List<string>
        {
            "vision_model.adapter_c2.weight", "vision_model.adapter_c2.bias",
            "vision_model.adapter_c3.weight", "vision_model.adapter_c3.bias",
            "vision_model.adapter_c4.weight", "vision_model.adapter_c4.bias",
            "vision_model.adapter_c5.weight", "vision_model.adapter_c5.bias",
            "vision_model.adapter_cls.weight", "vision_model.adapter_cls.bias",
            "vision_model.visual.trunk.stem.0.weight", "vision_model.visual.trunk.stem.0.bias",
            "vision_model.visual.trunk.stem.1.weight", "vision_model.visual.trunk.stem.1.bias",
            "vision_model.visual.trunk.head.norm.weight", "vision_model.visual.trunk.head.norm.bias",
        };
        int[] depths = [1, 1, 2, 1];
        for (var i = 0; i < 4; i++)
        {
            if (i > 0)
                foreach (var s in new[] { "downsample.0.weight", "downsample.0.bias", "downsample.1.weight", "downsample.1.bias" })
                    expected.Add($"vision_model.visual.trunk.stages.{i}.{s}");
            for (var j = 0; j < depths[i]; j++)
                foreach (var s in new[] { "gamma", "conv_dw.weight", "conv_dw.bias", "norm.weight", "norm.bias",
                             "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias" })
                    expected.Add($"vision_model.visual.trunk.stages.{i}.blocks.{j}.{s}");
        }
        Assert.Equal(expected.OrderBy(k => k, StringComparer.Ordinal), keys.OrderBy(k => k, StringComparer.Ordinal));
    }

    [Fact]
    public void RejectsImagesNotAMultipleOf32()
    {
        var enc = new ImageEncoder(VisionEncoderConfig.Tiny);
        Assert.Throws<ArgumentException>(() => enc.forward(rand(1, 3, 48, 64)));
        Assert.Throws<ArgumentException>(() => enc.forward(rand(1, 1, 64, 64)));
    }
}

public class ImageEncoderMemoryTests
{
    [Fact]
    public void RepeatedForwardsLeaveNoLiveTensors()
    {
        var enc = new ImageEncoder(VisionEncoderConfig.Tiny);
        var pool = new MaskPooling(VisionEncoderConfig.Tiny);
        enc.eval();
        var x = rand(1, 3, 64, 64);
        var mask = ones(1, 1, 64, 64);
        void Step()
        {
            using var scope = NewDisposeScope();
            var o = enc.forward(x);
            pool.forward(new MaskPoolingInput(o.Maps, mask));
            MaskPooling.GateTokens(o.Tokens, mask, 4, 4);
        }
        Step();                                                               // warm-up
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 3; i++) Step();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);

        // Without an outer scope, only the returned tensors stay alive: 1 tokens + 4 maps + 1 pos-embed,
        // then 1 for the pooled tokens.
        var start = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var outputs = enc.forward(x);
        Assert.Equal(start + 6, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        pool.forward(new MaskPoolingInput(outputs.Maps, mask));
        Assert.Equal(start + 7, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
