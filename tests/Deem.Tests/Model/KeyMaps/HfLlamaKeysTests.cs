using Deem.Config;
using Deem.Language;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Tests.Model;

/// <summary>The HF <c>LlamaForCausalLM</c> ↔ DEEM LLM key map the component loader reads and the world's writer writes.</summary>
public class HfLlamaKeysTests
{
    static LlamaConfig Config => LlamaConfig.Tiny with { VocabSize = 40 };

    [Fact]
    public void TheBodyAndHeadMapToTheKeysOfAnHfCausalLm()
    {
        using var llm = new LlamaForCausalLM(Config, generator: new Generator(1));
        var hf = HfLlamaKeys.ToHf(llm.Model.state_dict(), llm.LmHeadWeight);
        var expected = llm.state_dict();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), hf.Keys.Order(StringComparer.Ordinal));
        Assert.All(expected, kv => Assert.Same(kv.Value, hf[kv.Key]));
        Assert.Contains($"{HfLlamaKeys.BodyPrefix}{HfLlamaKeys.EmbedTokens}", hf.Keys);
    }

    [Fact]
    public void BodyKeysRoundTripAndOnlyBodyKeysHaveOne()
    {
        using var llm = new LlamaForCausalLM(Config, generator: new Generator(1));
        Assert.All(llm.Model.state_dict().Keys, k => Assert.Equal(k, HfLlamaKeys.ToBody(HfLlamaKeys.ToHf(k))));
        Assert.Null(HfLlamaKeys.ToBody(HfLlamaKeys.LmHead));
        Assert.True(HfLlamaKeys.IsIgnored("model.layers.0.self_attn.rotary_emb.inv_freq"));
        Assert.False(HfLlamaKeys.IsIgnored("model.layers.0.self_attn.q_proj.weight"));
    }

    [Fact]
    public void DeemsCrossAttentionHasNoHfKey()
    {
        const string key = "layers.1.llama_cross_attn.gate";
        Assert.True(HfLlamaKeys.IsDeemOnly(key));
        Assert.False(HfLlamaKeys.IsDeemOnly("layers.1.self_attn.q_proj.weight"));
        using var w = zeros(2, 2);
        var e = Assert.Throws<ArgumentException>(() => HfLlamaKeys.ToHf(new Dictionary<string, Tensor> { [key] = w }, w));
        Assert.Contains(key, e.Message);
    }
}
