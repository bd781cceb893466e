using Deem;
using Deem.Config;

namespace Deem.Tests.Vision;

public class VisionConfigTests
{
    // open_clip src/open_clip/model_configs/convnext_base_w_320.json
    private const string ConvNextBaseW320 = """
        {
            "embed_dim": 640,
            "vision_cfg": {
                "timm_model_name": "convnext_base",
                "timm_model_pretrained": false,
                "timm_pool": "",
                "timm_proj": "linear",
                "timm_drop": 0.0,
                "timm_drop_path": 0.1,
                "image_size": 320
            },
            "text_cfg": {
                "context_length": 77,
                "vocab_size": 49408,
                "width": 640,
                "heads": 10,
                "layers": 12
            }
        }
        """;

    [Fact]
    public void OpenClipConfigMapsToConvNextBase()
    {
        var oc = ConfigJson.Parse<OpenClipModelConfig>(ConvNextBaseW320, "convnext_base_w_320.json");
        var trunk = ConvNextConfig.FromOpenClip(oc, "convnext_base_w_320.json");
        Assert.Equal(new[] { 3, 3, 27, 3 }, trunk.Depths);
        Assert.Equal(new[] { 128, 256, 512, 1024 }, trunk.Dims);
        Assert.Equal(0.1, trunk.DropPathRate);
        Assert.Equal(1e-6, trunk.LsInitValue);
        Assert.Equal(3, trunk.InChans);

        var enc = VisionEncoderConfig.FromOpenClip(oc, "convnext_base_w_320.json");
        Assert.Equal(640, enc.ClipEmbedDim);
        Assert.Equal("mlp", enc.ProjHead);
        Assert.Equal(1024, enc.EmbedDim);
        Assert.Equal(ConvNextConfig.Base.Dims, enc.Trunk.Dims);
    }

    [Theory]
    [InlineData("convnext_tiny", new[] { 3, 3, 9, 3 }, new[] { 96, 192, 384, 768 })]
    [InlineData("convnext_small", new[] { 3, 3, 27, 3 }, new[] { 96, 192, 384, 768 })]
    [InlineData("convnext_large", new[] { 3, 3, 27, 3 }, new[] { 192, 384, 768, 1536 })]
    [InlineData("convnext_xlarge", new[] { 3, 3, 27, 3 }, new[] { 256, 512, 1024, 2048 })]
    public void TimmNamesMapToTheirShapes(string name, int[] depths, int[] dims)
    {
        var cfg = ConvNextConfig.FromTimmName(name, 0.0, "test");
        Assert.Equal(depths, cfg.Depths);
        Assert.Equal(dims, cfg.Dims);
    }

    [Fact]
    public void BadValuesAreConfigErrors()
    {
        var e = Assert.Throws<DeemConfigException>(() => ConfigJson.Parse<OpenClipModelConfig>(
            """{"embed_dim": 512, "vision_cfg": {"timm_model_name": "resnet50"}}""", "rn.json") is var oc
            ? ConvNextConfig.FromOpenClip(oc, "rn.json") : null);
        Assert.Equal("timm_model_name", e.Field);
        Assert.Throws<DeemConfigException>(() => ConvNextConfig.FromOpenClip(new OpenClipModelConfig { EmbedDim = 1 }, "x.json"));
        Assert.Throws<DeemConfigException>(() => (ConvNextConfig.Tiny with { Depths = [1, 1, 1] }).Validate("t"));
        Assert.Throws<DeemConfigException>(() => (ConvNextConfig.Tiny with { DropPathRate = 1.0 }).Validate("t"));
        Assert.Throws<DeemConfigException>(() => (VisionEncoderConfig.Tiny with { EmbedDim = 66 }).Validate("t"));
        Assert.Throws<DeemConfigException>(() => (VisionEncoderConfig.Tiny with { ProjHead = "attn" }).Validate("t"));
        VisionEncoderConfig.Tiny.Validate("tiny");
        VisionEncoderConfig.Paper.Validate("paper");
    }

    [Fact]
    public void EncoderConfigRoundTripsThroughJson()
    {
        var json = ConfigJson.ToJson(VisionEncoderConfig.Tiny);
        var back = ConfigJson.Parse<VisionEncoderConfig>(json, "tiny.json");
        Assert.Equal(VisionEncoderConfig.Tiny.Trunk.Dims, back.Trunk.Dims);
        Assert.Equal(VisionEncoderConfig.Tiny.Trunk.Depths, back.Trunk.Depths);
        Assert.Equal(VisionEncoderConfig.Tiny.MaskShape, back.MaskShape);
        Assert.Equal(VisionEncoderConfig.Tiny.EmbedDim, back.EmbedDim);
    }
}
