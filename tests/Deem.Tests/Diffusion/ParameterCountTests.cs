using Deem.Config;
using Deem.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Diffusion;

/// <summary>Paper-scale models built on the meta device: parameter counts of reference §1.11 and key names.</summary>
[Collection(GlobalTorchStateCollection.Name)]
public class ParameterCountTests
{
    static T OnMeta<T>(Func<T> build)
    {
        torch.set_default_device(torch.META);
        try { return build(); }
        finally { torch.set_default_device(torch.CPU); }
    }

    static long Count(nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void Sd21BaseUNetHasTheReferenceParameterCount()
    {
        using var unet = OnMeta(() => new UNet2DConditionModel(UNetConfig.Sd21Base));
        Assert.Equal(865_910_724L, Count(unet));
    }

    [Fact]
    public void Sd21BaseVaeHasTheReferenceParameterCount()
    {
        using var vae = OnMeta(() => new AutoencoderKL(VaeConfig.Sd21Base));
        Assert.Equal(83_653_863L, Count(vae));
    }

    [Fact]
    public void Sd21BaseUNetKeysAreDiffusersKeys()
    {
        using var unet = OnMeta(() => new UNet2DConditionModel(UNetConfig.Sd21Base));
        var sd = unet.state_dict();
        // 686 tensors in the published unet/diffusion_pytorch_model.safetensors of SD-2.1-base.
        string[] expected =
        [
            "conv_in.weight", "time_embedding.linear_1.weight", "time_embedding.linear_2.bias",
            "down_blocks.0.resnets.0.norm1.weight", "down_blocks.0.resnets.0.conv1.weight",
            "down_blocks.0.resnets.0.time_emb_proj.weight", "down_blocks.0.resnets.0.norm2.bias",
            "down_blocks.0.resnets.0.conv2.weight", "down_blocks.1.resnets.0.conv_shortcut.weight",
            "down_blocks.0.attentions.0.norm.weight", "down_blocks.0.attentions.0.proj_in.weight",
            "down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q.weight",
            "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight",
            "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0.bias",
            "down_blocks.0.attentions.0.transformer_blocks.0.norm3.weight",
            "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
            "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.bias",
            "down_blocks.0.attentions.0.proj_out.bias", "down_blocks.2.downsamplers.0.conv.weight",
            "down_blocks.3.resnets.1.conv2.bias",
            "mid_block.resnets.1.conv1.weight", "mid_block.attentions.0.transformer_blocks.0.attn1.to_v.weight",
            "up_blocks.0.resnets.2.conv_shortcut.weight", "up_blocks.0.upsamplers.0.conv.weight",
            "up_blocks.3.attentions.2.proj_out.weight", "conv_norm_out.weight", "conv_out.bias",
        ];
        foreach (var k in expected) Assert.True(sd.ContainsKey(k), $"missing key {k}");
        Assert.False(sd.ContainsKey("down_blocks.3.attentions.0.norm.weight"));
        Assert.False(sd.ContainsKey("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.bias"));
        Assert.False(sd.ContainsKey("up_blocks.3.upsamplers.0.conv.weight"));
        Assert.Equal(686, sd.Count);
        // Linear projection of SD-2: proj_in is a [320, 320] matrix, not a 1×1 conv; attn2 keys read 1024-d context.
        Assert.Equal(new long[] { 320, 320 }, sd["down_blocks.0.attentions.0.proj_in.weight"].shape);
        Assert.Equal(new long[] { 320, 1024 }, sd["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"].shape);
        Assert.Equal(new long[] { 2560, 320 }, sd["down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight"].shape);
        Assert.Equal(new long[] { 1280, 2560, 1, 1 }, sd["up_blocks.0.resnets.0.conv_shortcut.weight"].shape);
    }

    [Fact]
    public void Sd21BaseVaeKeysAreDiffusersKeys()
    {
        using var vae = OnMeta(() => new AutoencoderKL(VaeConfig.Sd21Base));
        var sd = vae.state_dict();
        string[] expected =
        [
            "encoder.conv_in.weight", "encoder.down_blocks.0.resnets.1.norm2.weight",
            "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "encoder.down_blocks.2.downsamplers.0.conv.weight",
            "encoder.mid_block.attentions.0.group_norm.weight", "encoder.mid_block.attentions.0.to_q.bias",
            "encoder.mid_block.attentions.0.to_out.0.weight", "encoder.mid_block.resnets.1.conv2.weight",
            "encoder.conv_norm_out.bias", "encoder.conv_out.weight", "quant_conv.weight", "post_quant_conv.bias",
            "decoder.conv_in.weight", "decoder.mid_block.attentions.0.to_k.weight", "decoder.up_blocks.0.resnets.2.conv1.weight",
            "decoder.up_blocks.2.upsamplers.0.conv.weight", "decoder.up_blocks.3.resnets.0.conv_shortcut.weight",
            "decoder.conv_norm_out.weight", "decoder.conv_out.bias",
        ];
        foreach (var k in expected) Assert.True(sd.ContainsKey(k), $"missing key {k}");
        Assert.False(sd.ContainsKey("encoder.down_blocks.3.downsamplers.0.conv.weight"));
        Assert.False(sd.ContainsKey("decoder.up_blocks.3.upsamplers.0.conv.weight"));
        Assert.Equal(new long[] { 8, 512, 3, 3 }, sd["encoder.conv_out.weight"].shape);
    }

    [Fact]
    public void Sd21BaseSkipChannelsAreTheTwelveMmfsTargets()
    {
        var c = UNetConfig.Sd21Base;
        Assert.Equal(new[] { 320, 320, 320, 320, 640, 640, 640, 1280, 1280, 1280, 1280, 1280 }, c.SkipChannels());
        Assert.Equal(new[] { 1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8 }, c.SkipStrides());
        Assert.Equal(1280, c.MidChannels);
        Assert.Equal(8, c.MidStride);
        Assert.Equal(new[] { 5, 10, 20, 20 }, Enumerable.Range(0, 4).Select(c.HeadsOfBlock).ToArray());
    }
}
