using Deem.Config;
using Deem.Model;
using Deem.Vision;
using static TorchSharp.torch;

namespace Deem.Tests.Model;

/// <summary>The open_clip ↔ HF <c>CLIPTextModel</c> key map of the SD text encoder.</summary>
public class HfClipTextKeysTests
{
    static ClipTextConfig Text => Vision.ClipModelTests.Text;

    [Fact]
    public void RoundTripAndNameMissingKeys()
    {
        using var scope = NewDisposeScope();
        using var enc = new ClipTextEncoder(Text, new Generator(3));
        var sd = enc.state_dict();
        var hf = HfClipTextKeys.ToHf(sd, Text.Layers);
        Assert.Contains("text_model.encoder.layers.1.self_attn.k_proj.weight", hf.Keys);
        Assert.Contains("text_model.embeddings.position_embedding.weight", hf.Keys);
        Assert.Contains("text_model.final_layer_norm.bias", hf.Keys);
        Assert.Equal(new long[] { 16, 16 }, hf["text_model.encoder.layers.0.self_attn.v_proj.weight"].shape);
        var back = HfClipTextKeys.FromHf(hf, Text.Layers, "te");
        foreach (var (k, v) in sd.Where(kv => kv.Key != "text_projection"))
            Assert.True(v.allclose(back[k], 0, 0), k);
        Assert.DoesNotContain("text_projection", back.Keys);

        hf.Remove("text_model.encoder.layers.1.mlp.fc2.bias");
        var e = Assert.Throws<DeemFormatException>(() => HfClipTextKeys.FromHf(hf, Text.Layers, "te"));
        Assert.Equal("text_model.encoder.layers.1.mlp.fc2.bias", e.Key);
    }
}
