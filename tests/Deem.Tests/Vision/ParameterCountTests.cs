using Deem.Config;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Vision;

[Collection(GlobalTorchStateCollection.Name)]
public class ParameterCountTests
{
    [Fact]
    public void PaperScaleCountsMatchReferenceTable()
    {
        // Reference §1.11: trunk 87,566,464; 5 adapters 3,019,776; unused open_clip MLP head
        // 2,131,200; MaskPooling 15,994,880. Built on the meta device: shapes only.
        var (encoder, pooling) = ParameterCount.OnMeta(() =>
            (new ImageEncoder(VisionEncoderConfig.Paper), new MaskPooling(VisionEncoderConfig.Paper)));
        Assert.Equal(DeviceType.CPU, empty(1).device_type);                   // default restored

        Assert.Equal(DeviceType.META, encoder.parameters().First().device_type);
        Assert.Equal(87_566_464L, ParameterCount.Total(encoder.Trunk));
        Assert.Equal(2_131_200L, ParameterCount.Total(encoder.VisionModel.Visual.Head!));
        var perChild = ParameterCount.PerChild(encoder.VisionModel);
        Assert.Equal(
            new[] { "adapter_c2", "adapter_c3", "adapter_c4", "adapter_c5", "adapter_cls", "visual" },
            perChild.Select(c => c.Name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.Equal(3_019_776L, perChild.Where(c => c.Name.StartsWith("adapter_")).Sum(c => c.Count));
        Assert.Equal(3_019_776L, ParameterCount.WithPrefix(encoder.VisionModel, "adapter_"));
        Assert.Equal(87_566_464L + 2_131_200L + 3_019_776L, ParameterCount.Total(encoder));
        Assert.Equal(15_994_880L, ParameterCount.Total(pooling));
    }

    [Fact]
    public void PaperHeadKeysMatchDeemsMlpHead()
    {
        var encoder = ParameterCount.OnMeta(() => new ImageEncoder(VisionEncoderConfig.Paper));
        var shapes = encoder.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        Assert.Equal(new long[] { 1280, 1024 }, shapes["vision_model.visual.head.mlp.fc1.weight"]);
        Assert.Equal(new long[] { 1280 }, shapes["vision_model.visual.head.mlp.fc1.bias"]);
        Assert.Equal(new long[] { 640, 1280 }, shapes["vision_model.visual.head.mlp.fc2.weight"]);
        Assert.False(shapes.ContainsKey("vision_model.visual.head.mlp.fc2.bias"));
        Assert.Equal(new long[] { 1024, 512 }, shapes["vision_model.adapter_c4.weight"]);
        Assert.Equal(new long[] { 1024, 1, 7, 7 }, shapes["vision_model.visual.trunk.stages.3.blocks.2.conv_dw.weight"]);
        Assert.Equal(new long[] { 512 }, shapes["vision_model.visual.trunk.stages.2.blocks.26.gamma"]);
        Assert.Equal(new long[] { 1024, 512, 2, 2 }, shapes["vision_model.visual.trunk.stages.3.downsample.1.weight"]);
        Assert.Equal(new long[] { 128, 3, 4, 4 }, shapes["vision_model.visual.trunk.stem.0.weight"]);
        Assert.DoesNotContain(shapes.Keys, k => k.Contains("stages.0.downsample"));
    }

    [Fact]
    public void PerChildListsEveryChildInOrder()
    {
        var pooling = new MaskPooling(8, 4);
        var perChild = ParameterCount.PerChild(pooling);
        Assert.Equal(new[] { ("mask_linear", 16L * 8 + 8 + 2 * (8 * 8 + 8)), ("mask_feat_linear", 8L * 8 + 8) },
            perChild.OrderByDescending(c => c.Name).ToArray());
    }
}
