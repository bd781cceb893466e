using Deem.Config;
using Deem.Model;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Model;

public class OpenClipConvNextKeysTests
{
    /// <summary>A state dict laid out like open_clip's, from a trunk with its own random weights.</summary>
    private static Dictionary<string, Tensor> OpenClipStateDict(ImageEncoder source)
    {
        var dict = source.state_dict()
            .Where(kv => kv.Key.StartsWith(OpenClipConvNextKeys.SnifferTrunkPrefix))
            .ToDictionary(kv => "visual.trunk." + kv.Key[OpenClipConvNextKeys.SnifferTrunkPrefix.Length..], kv => kv.Value.clone());
        dict["visual.head.proj.weight"] = randn(32, 64);                      // open_clip's linear projection
        dict["text.token_embedding.weight"] = randn(10, 32);
        dict["text.positional_embedding"] = randn(5, 32);
        dict["logit_scale"] = tensor(4.6f);
        return dict;
    }

    [Fact]
    public void MapsTrunkKeysAndDropsTheRest()
    {
        var ckpt = OpenClipStateDict(new ImageEncoder(VisionEncoderConfig.Tiny));
        var mapped = OpenClipConvNextKeys.MapToSniffer(ckpt, "ckpt.bin", prefix: "visual_tokenizer.sniffer.");
        Assert.Contains("visual_tokenizer.sniffer.vision_model.visual.trunk.stem.0.weight", mapped.Keys);
        Assert.Contains("visual_tokenizer.sniffer.vision_model.visual.trunk.stages.2.blocks.1.mlp.fc2.bias", mapped.Keys);
        Assert.All(mapped.Keys, k => Assert.StartsWith("visual_tokenizer.sniffer.vision_model.visual.trunk.", k));
        Assert.Equal(ckpt.Count - 4, mapped.Count);
        Assert.Same(ckpt["visual.trunk.stem.0.weight"], mapped["visual_tokenizer.sniffer.vision_model.visual.trunk.stem.0.weight"]);
    }

    [Fact]
    public void LoadedTrunkReproducesTheSourceTrunk()
    {
        var source = new ImageEncoder(VisionEncoderConfig.Tiny);
        var target = new ImageEncoder(VisionEncoderConfig.Tiny);
        source.eval();
        target.eval();
        var x = rand(1, 3, 64, 64);
        var before = target.Trunk.forward(x).Pooled;
        var expected = source.Trunk.forward(x).Pooled;
        Assert.False(before.allclose(expected));

        var n = OpenClipConvNextKeys.LoadTrunk(target, OpenClipStateDict(source), "ckpt.bin");
        Assert.Equal(source.Trunk.state_dict().Count, n);
        Assert.True(target.Trunk.forward(x).Pooled.allclose(expected, rtol: 0, atol: 0));
        foreach (var s in target.Trunk.forward(x).Stages.Zip(source.Trunk.forward(x).Stages))
            Assert.True(s.First.allclose(s.Second, rtol: 0, atol: 0));
    }

    [Fact]
    public void MissingOrMisshapenTensorsAreFormatErrors()
    {
        var source = new ImageEncoder(VisionEncoderConfig.Tiny);
        var target = new ImageEncoder(VisionEncoderConfig.Tiny);

        var missing = OpenClipStateDict(source);
        missing.Remove("visual.trunk.stages.1.blocks.0.gamma");
        var e1 = Assert.Throws<DeemFormatException>(() => OpenClipConvNextKeys.LoadTrunk(target, missing, "ckpt.bin"));
        Assert.Equal("visual.trunk.stages.1.blocks.0.gamma", e1.Key);

        var wrong = OpenClipStateDict(source);
        wrong["visual.trunk.head.norm.weight"] = ones(65);
        var e2 = Assert.Throws<DeemFormatException>(() => OpenClipConvNextKeys.LoadTrunk(target, wrong, "ckpt.bin"));
        Assert.Equal("visual.trunk.head.norm.weight", e2.Key);

        var extra = OpenClipStateDict(source);
        extra["visual.trunk.stages.3.blocks.1.gamma"] = ones(64);             // a deeper trunk
        Assert.Throws<DeemFormatException>(() => OpenClipConvNextKeys.LoadTrunk(target, extra, "ckpt.bin"));

        Assert.Throws<DeemFormatException>(() =>
            OpenClipConvNextKeys.MapToSniffer(new Dictionary<string, Tensor> { ["text.x"] = ones(1) }, "ckpt.bin"));
    }
}
