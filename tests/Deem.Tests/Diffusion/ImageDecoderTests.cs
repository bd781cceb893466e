using Deem.Config;
using Deem.Diffusion;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.Perceiver.PerceiverTestUtil;

namespace Deem.Tests.Diffusion;

public class ImageDecoderTests
{
    static readonly ImageDecoderConfig Cfg = ImageDecoderConfig.Tiny;
    static long D => Cfg.ContextHiddenSize;
    static long Nq => Cfg.PerceiverConfig.NumQueries;
    static long Dc => Cfg.PerceiverConfig.HiddenSize;

    static ImageDecoderInput Input(long bi, Generator g, Generator? cfgGen = null)
    {
        var lens = Enumerable.Range(0, (int)bi).Select(i => 2L + i % 4).ToArray();
        var lMax = lens.Max();
        var mask = zeros(bi, lMax, ScalarType.Int64);
        for (var i = 0; i < bi; i++) mask[i, TensorIndex.Slice(0, lens[i])] = 1;
        return new ImageDecoderInput(randn([bi, lMax, D], generator: g), mask, cfgGen);
    }

    [Fact]
    public void ConditionHasUnetTextShape()
    {
        using var dec = new ImageDecoder(Cfg, new Generator(1));
        dec.eval();
        var y = dec.forward(Input(3, new Generator(2)));
        Assert.Equal(new long[] { 3, Nq, Dc }, y.Condition.shape);
        Assert.Equal(new[] { false, true, true }, y.IsCondImage.data<bool>().ToArray());
        Assert.All(y.Unconditioned.data<bool>().ToArray(), Assert.False);
        Assert.Equal(new[] { "neg_prompt_embeds", "perceiver_resampler.queries" },
            dec.state_dict().Keys.Where(k => !k.Contains("blip2qformer")).Order());
    }

    [Fact]
    public void CfgSwapWithProbabilityOneGivesOnlyTheNullEmbedding()
    {
        using var dec = new ImageDecoder(Cfg with { UncondProb = 1.0 }, new Generator(3));
        dec.train();
        var y = dec.forward(Input(4, new Generator(4), new Generator(5)));
        Assert.All(y.Unconditioned.data<bool>().ToArray(), Assert.True);
        Assert.Equal(0.0, MaxAbsDiff(y.Condition, dec.NullEmbedding.expand(4, -1, -1)));

        dec.eval();   // never swaps at inference
        var e = dec.forward(Input(4, new Generator(4)));
        Assert.All(e.Unconditioned.data<bool>().ToArray(), Assert.False);
        Assert.True(MaxAbsDiff(e.Condition, dec.NullEmbedding.expand(4, -1, -1)) > 1e-3);
    }

    [Fact]
    public void CfgSwapWithProbabilityZeroChangesNothing()
    {
        using var dec = new ImageDecoder(Cfg with { UncondProb = 0.0 }, new Generator(6));
        dec.train();
        var t = dec.forward(Input(4, new Generator(7), new Generator(8)));
        dec.eval();
        var e = dec.forward(Input(4, new Generator(7)));
        Assert.All(t.Unconditioned.data<bool>().ToArray(), Assert.False);
        Assert.Equal(0.0, MaxAbsDiff(t.Condition, e.Condition));
    }

    [Fact]
    public void CfgSwapIsReproducibleWithASeedAndSwapsOnlyChosenImages()
    {
        using var dec = new ImageDecoder(Cfg with { UncondProb = 0.5 }, new Generator(9));
        dec.train();
        const long n = 64;
        var a = dec.forward(Input(n, new Generator(10), new Generator(11)));
        var b = dec.forward(Input(n, new Generator(10), new Generator(11)));
        var c = dec.forward(Input(n, new Generator(10), new Generator(12)));
        var sa = a.Unconditioned.data<bool>().ToArray();
        Assert.Equal(sa, b.Unconditioned.data<bool>().ToArray());
        Assert.Equal(0.0, MaxAbsDiff(a.Condition, b.Condition));
        Assert.NotEqual(sa, c.Unconditioned.data<bool>().ToArray());
        Assert.InRange(sa.Count(s => s), 16, 48);

        dec.eval();
        var clean = dec.forward(Input(n, new Generator(10))).Condition;
        var nul = dec.NullEmbedding[0];
        for (var i = 0; i < n; i++)
            Assert.Equal(0.0, MaxAbsDiff(a.Condition[i], sa[i] ? nul : clean[i]));
    }

    [Fact]
    public void PaddedContextDoesNotChangeTheCondition()
    {
        using var dec = new ImageDecoder(Cfg, new Generator(13));
        dec.eval();
        var g = new Generator(14);
        var ctx = randn([1, 3, D], generator: g);
        var short_ = dec.forward(new ImageDecoderInput(ctx, ones(1, 3, ScalarType.Int64))).Condition;
        var padded = cat([ctx, 30 * randn([1, 5, D], generator: g)], 1);
        var mask = tensor(new long[,] { { 1, 1, 1, 0, 0, 0, 0, 0 } });
        var long_ = dec.forward(new ImageDecoderInput(padded, mask)).Condition;
        Assert.True(MaxAbsDiff(short_, long_) < 1e-5, $"max diff {MaxAbsDiff(short_, long_)}");
    }

    [Fact]
    public void ContextLongerThanTheTableIsRejected()
    {
        using var dec = new ImageDecoder(Cfg with { MaxContextLen = 4 });
        Assert.Throws<ArgumentException>(() => dec.forward(new ImageDecoderInput(zeros(1, 5, D), ones(1, 5, ScalarType.Int64))));
    }

    [Fact]
    public void NullEmbeddingCanBeSetFromATensor()
    {
        using var dec = new ImageDecoder(Cfg);
        var e = randn(Nq, Dc);
        dec.InitNullEmbedding(e);
        Assert.Equal(0.0, MaxAbsDiff(dec.NullEmbedding[0], e));
        Assert.Throws<ArgumentException>(() => dec.InitNullEmbedding(randn(Nq + 1, Dc)));
    }

    [Fact]
    public void GradientsReachQueriesAndNullEmbedding()
    {
        using var dec = new ImageDecoder(Cfg with { UncondProb = 0.5 }, new Generator(15));
        dec.train();
        var y = dec.forward(Input(16, new Generator(16), new Generator(17)));
        y.Condition.pow(2).sum().backward();
        Assert.True(dec.PerceiverResampler.Queries.grad!.abs().sum().item<float>() > 0);
        Assert.True(dec.NullEmbedding.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void PaperScaleParameterCountMatchesReference()
    {
        // §1.11: decoder Q-Former (77×1024, 1 layer) + null embedding (77×1024) = 21,149,696.
        Assert.Equal(21_149_696L, CountOnMeta(d => new ImageDecoder(ImageDecoderConfig.Paper7B, device: d)));
    }

    [Fact]
    public void DeemYamlBlockParsesToThePaperPreset()
    {
        // The image_decoder_config block of DEEM's pretrain.yaml (model part), as JSON.
        const string json = """
            { "pretrained_model_name_or_path": "assets/stabilityai/stable-diffusion-2-1-base", "sd_base_seed": 0,
              "perceiver_config": { "num_queries": 77, "hidden_size": 1024, "encoder_hidden_size": 4096,
                "cross_attention_frequency": 1, "num_hidden_layers": 1, "num_attention_heads": 16,
                "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0 } }
            """;
        var cfg = Deem.Config.ConfigJson.Parse<ImageDecoderConfig>(json, "pretrain.yaml");
        Assert.Equal(ImageDecoderConfig.Paper7B.PerceiverConfig, cfg.PerceiverConfig);
        Assert.Equal(0.1, cfg.UncondProb);
        Assert.Equal(4096, cfg.ContextHiddenSize);
        var e = Assert.Throws<DeemConfigException>(() => (cfg with { UncondProb = 1.5 }).Validate("x"));
        Assert.Equal("uncond_prob", e.Field);
    }
}
