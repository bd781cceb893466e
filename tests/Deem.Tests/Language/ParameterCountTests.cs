using Deem.Config;
using Deem.Language;
using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Tests.Language;

/// <summary>Switches the process-wide default device to meta, so it runs alone.</summary>
[Collection(GlobalTorchStateCollection.Name)]
public class ParameterCountTests
{
    private static long Count(TorchSharp.torch.nn.Module m, bool? trainable = null) =>
        m.parameters().Where(p => trainable is null || p.requires_grad == trainable).Sum(p => p.numel());

    [Fact]
    public void PaperScaleLlamaBodyAndTextHeadMatchTheReferenceCounts()
    {
        set_default_device(META);
        try
        {
            var cfg = LlamaConfig.Paper7B;
            Assert.Equal(SpecialTokens.Paper.VocabSize, cfg.VocabSize);
            using var body = new LlamaModel(cfg);
            Assert.Equal(6_607_368_192L, Count(body));   // reference §1.11: embeddings 32006×4096 + 32 layers + norm
            Assert.Equal(META.type, body.parameters().First().device.type);

            using var head = new TextHead(cfg.HiddenSize, cfg.VocabSize, SpecialTokens.NewTokenCount);
            Assert.Equal(131_128_582L, Count(head, trainable: false));
            Assert.Equal(24_582L, Count(head, trainable: true));
        }
        finally
        {
            set_default_device(CPU);
        }
    }

    [Fact]
    public void VicunaConfigJsonDeserialisesToThePreset()
    {
        const string json = """
        {"_name_or_path": "vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
         "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008,
         "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
         "num_key_value_heads": 32, "pad_token_id": 0, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
         "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.34.0",
         "use_cache": true, "vocab_size": 32000}
        """;
        var cfg = ConfigJson.Parse<LlamaConfig>(json, "config.json");
        Assert.Equal(LlamaConfig.Vicuna7B, cfg);
        cfg.Validate("config.json");
        Assert.Equal(new[] { 0, 4, 8, 12, 16, 20, 24, 28 }, Enumerable.Range(0, 32).Where(cfg.HasCrossAttention).ToArray());
    }

    [Fact]
    public void ValidateNamesTheBadField()
    {
        var e = Assert.Throws<DeemConfigException>(() => (LlamaConfig.Tiny with { NumKeyValueHeads = 3 }).Validate("tiny"));
        Assert.Equal("num_key_value_heads", e.Field);
        e = Assert.Throws<DeemConfigException>(() => (LlamaConfig.Tiny with { HiddenSize = 130 }).Validate("tiny"));
        Assert.Equal("hidden_size", e.Field);
    }
}
