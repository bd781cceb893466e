using Deem.Config;
using Deem.Perceiver;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.Perceiver.PerceiverTestUtil;

namespace Deem.Tests.Perceiver;

public class QFormerTests
{
    static QFormerConfig NoDropout(QFormerConfig c) => c with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 };

    [Fact]
    public void ResamplerShapeIsBatchByQueriesByHidden()
    {
        var cfg = QFormerConfig.TinyVisual;
        using var m = new PerceiverResampler(cfg, new Generator(1));
        m.eval();
        using var enc = randn(3, 17, cfg.EncoderHiddenSize);
        using var y = m.forward(new PerceiverInput(enc));
        Assert.Equal(new long[] { 3, cfg.NumQueries, cfg.HiddenSize }, y.shape);
    }

    [Fact]
    public void StateDictKeysFollowHfBlip2QFormerAndDeemWrapper()
    {
        var cfg = QFormerConfig.TinyVisual;   // 2 layers, cross-attention every 2nd, QK-norm
        using var m = new PerceiverResampler(cfg);
        var sd = m.state_dict();
        const string l0 = "blip2qformer.encoder.layer.0.";
        const string l1 = "blip2qformer.encoder.layer.1.";
        foreach (var k in new[]
                 {
                     "queries", "blip2qformer.layernorm.weight", "blip2qformer.layernorm.bias",
                     l0 + "attention.attention.query.weight", l0 + "attention.attention.key.bias", l0 + "attention.attention.value.weight",
                     l0 + "attention.attention.q_norm.weight", l0 + "attention.attention.k_norm.bias",
                     l0 + "attention.output.dense.weight", l0 + "attention.output.LayerNorm.weight",
                     l0 + "crossattention.attention.query.weight", l0 + "crossattention.attention.key.weight",
                     l0 + "crossattention.attention.q_norm.weight", l0 + "crossattention.output.LayerNorm.bias",
                     l0 + "intermediate_query.dense.weight", l0 + "output_query.dense.weight", l0 + "output_query.LayerNorm.weight",
                     l1 + "attention.attention.query.weight", l1 + "output_query.LayerNorm.bias",
                 })
            Assert.True(sd.ContainsKey(k), $"missing {k}");
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith(l1 + "crossattention"));
        Assert.Equal(new long[] { cfg.HiddenSize, cfg.EncoderHiddenSize }, sd[l0 + "crossattention.attention.key.weight"].shape);
        Assert.Equal(new long[] { cfg.HeadDim }, sd[l0 + "attention.attention.q_norm.weight"].shape);
        Assert.Equal(new long[] { 1, cfg.NumQueries, cfg.HiddenSize }, sd["queries"].shape);

        using var plain = new PerceiverResampler(cfg with { QkNormalization = false });
        Assert.DoesNotContain(plain.state_dict().Keys, k => k.Contains("q_norm") || k.Contains("k_norm"));
    }

    [Fact]
    public void MatchesSlowPostLnReferenceWithQkNormAndPaddedKeys()
    {
        var cfg = NoDropout(QFormerConfig.TinyVisual);   // layer 0: self + cross, layer 1: self only
        var g = new Generator(7);
        using var m = new PerceiverResampler(cfg, g);
        RandomiseNorms(m, g);
        m.eval();
        var (B, S) = (2L, 9L);
        var enc = randn([B, S, cfg.EncoderHiddenSize], generator: g);
        var mask = ones(B, S, ScalarType.Int64);
        mask[1, TensorIndex.Slice(6)] = 0;                 // row 1: last 3 keys padded
        var got = m.forward(new PerceiverInput(enc, mask));

        var sd = m.state_dict();
        var eps = cfg.LayerNormEps;
        var (nH, hD, H) = (cfg.NumAttentionHeads, cfg.HeadDim, cfg.HiddenSize);
        Tensor Lin(Tensor x, string p) => x.matmul(sd[p + ".weight"].t()) + sd[p + ".bias"];
        Tensor Ln(Tensor x, string p)
        {
            var mu = x.mean([-1L], keepdim: true);
            var v = (x - mu).pow(2).mean([-1L], keepdim: true);
            return (x - mu) / sqrt(v + eps) * sd[p + ".weight"] + sd[p + ".bias"];
        }
        Tensor Heads(Tensor x) => x.view(B, -1, nH, hD).permute(0, 2, 1, 3);
        Tensor Block(Tensor h, Tensor src, string p, Tensor? bias)
        {
            var q = Ln(Heads(Lin(h, p + ".attention.query")), p + ".attention.q_norm");
            var k = Ln(Heads(Lin(src, p + ".attention.key")), p + ".attention.k_norm");
            var v = Heads(Lin(src, p + ".attention.value"));
            var s = q.matmul(k.transpose(-1, -2)) / Math.Sqrt(hD);
            if (bias is not null) s = s + bias;
            var ctx = s.softmax(-1).matmul(v).permute(0, 2, 1, 3).reshape(B, -1, H);
            return Ln(Lin(ctx, p + ".output.dense") + h, p + ".output.LayerNorm");
        }
        Tensor Ffn(Tensor h, string p)
        {
            var a = Lin(h, p + ".intermediate_query.dense");
            var gelu = 0.5 * a * (1 + special.erf(a / Math.Sqrt(2)));
            return Ln(Lin(gelu, p + ".output_query.dense") + h, p + ".output_query.LayerNorm");
        }
        var keyBias = (1 - mask.to(ScalarType.Float32)).view(B, 1, 1, S) * -1e30;
        var x = Ln(sd["queries"].expand(B, -1, -1), "blip2qformer.layernorm");
        const string l0 = "blip2qformer.encoder.layer.0", l1 = "blip2qformer.encoder.layer.1";
        x = Ffn(Block(Block(x, x, l0 + ".attention", null), enc, l0 + ".crossattention", keyBias), l0);
        x = Ffn(Block(x, x, l1 + ".attention", null), l1);

        Assert.True(MaxAbsDiff(got, x) < 1e-4, $"max diff {MaxAbsDiff(got, x)}");
    }

    [Fact]
    public void QkNormalizationChangesTheOutput()
    {
        var cfg = NoDropout(QFormerConfig.TinyVisual);
        using var with = new PerceiverResampler(cfg, new Generator(3));
        using var without = new PerceiverResampler(cfg with { QkNormalization = false }, new Generator(3));
        with.eval();
        without.eval();
        // Same seed, same draws: every shared weight is identical.
        Assert.Equal(0.0, MaxAbsDiff(with.Queries, without.Queries));
        using var enc = randn([2, 5, cfg.EncoderHiddenSize], generator: new Generator(4));
        using var a = with.forward(new PerceiverInput(enc));
        using var b = without.forward(new PerceiverInput(enc));
        Assert.True(MaxAbsDiff(a, b) > 1e-3);
    }

    [Fact]
    public void PaddedGarbageKeysDoNotChangeTheOutput()
    {
        var cfg = NoDropout(QFormerConfig.TinyDecoder);
        using var m = new PerceiverResampler(cfg, new Generator(5));
        m.eval();
        var g = new Generator(6);
        var enc = randn([2, 5, cfg.EncoderHiddenSize], generator: g);
        var garbage = 50 * randn([2, 4, cfg.EncoderHiddenSize], generator: g);
        var padded = cat([enc, garbage], 1);                                        // [2, 9, E]
        var mask = cat([ones(2, 5, ScalarType.Int64), zeros(2, 4, ScalarType.Int64)], 1);
        using var clean = m.forward(new PerceiverInput(enc));
        using var masked = m.forward(new PerceiverInput(padded, mask));
        Assert.True(MaxAbsDiff(clean, masked) < 1e-6, $"max diff {MaxAbsDiff(clean, masked)}");
        using var unmasked = m.forward(new PerceiverInput(padded));
        Assert.True(MaxAbsDiff(clean, unmasked) > 1e-3);
    }

    [Fact]
    public void GradientsReachQueriesAndEveryWeight()
    {
        var cfg = QFormerConfig.TinyVisual;
        using var m = new PerceiverResampler(cfg, new Generator(8));
        m.train();
        using var enc = randn(2, 5, cfg.EncoderHiddenSize);
        m.forward(new PerceiverInput(enc)).pow(2).mean().backward();
        Assert.NotNull(m.Queries.grad);
        Assert.True(m.Queries.grad!.abs().sum().item<float>() > 0);
        foreach (var (name, p) in m.named_parameters())
            Assert.True(p.grad is not null, $"no gradient for {name}");
    }

    [Fact]
    public void DropoutIsActiveOnlyInTraining()
    {
        var cfg = QFormerConfig.TinyVisual;   // dropout 0.1
        using var m = new PerceiverResampler(cfg, new Generator(9));
        using var enc = randn(2, 5, cfg.EncoderHiddenSize);
        m.eval();
        using var e1 = m.forward(new PerceiverInput(enc));
        using var e2 = m.forward(new PerceiverInput(enc));
        Assert.Equal(0.0, MaxAbsDiff(e1, e2));
        m.train();
        using var t1 = m.forward(new PerceiverInput(enc));
        Assert.True(MaxAbsDiff(e1, t1) > 1e-4);
    }

    [Fact]
    public void PaperScaleParameterCountsMatchReference()
    {
        // §1.11: visual Q-Former 101,662,464 (with queries and QK-norms); decoder Q-Former 21.07 M (+ null = 21,149,696).
        Assert.Equal(101_662_464L, CountOnMeta(d => new PerceiverResampler(QFormerConfig.VisualPaper, device: d)));
        Assert.Equal(21_070_848L, CountOnMeta(d => new PerceiverResampler(QFormerConfig.DecoderPaper, device: d)));
    }

    [Fact]
    public void ConfigReadsHfAndDeemKeysAndRejectsBadHeads()
    {
        const string json = """
            { "model_type": "blip_2_qformer", "hidden_size": 1024, "num_hidden_layers": 1, "num_attention_heads": 16,
              "encoder_hidden_size": 4096, "cross_attention_frequency": 1, "hidden_dropout_prob": 0.0,
              "attention_probs_dropout_prob": 0.0, "num_queries": 77, "vocab_size": 30522 }
            """;
        var cfg = Deem.Config.ConfigJson.Parse<QFormerConfig>(json, "decoder.json");
        Assert.Equal(QFormerConfig.DecoderPaper, cfg);
        var bad = cfg with { NumAttentionHeads = 7 };
        var e = Assert.Throws<DeemConfigException>(() => bad.Validate("bad.json"));
        Assert.Equal("num_attention_heads", e.Field);
    }
}
