using Deem.Config;
using Deem.Perceiver;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.Perceiver.PerceiverTestUtil;

namespace Deem.Tests.Perceiver;

public class VisualTokenizerHeadTests
{
    const long Llm = 96, Cond = 48, Grid = 4;
    static readonly QFormerConfig Cfg = QFormerConfig.TinyVisual with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 };
    static long C => Cfg.EncoderHiddenSize;

    static VisualTokenizerHeadInput Input(Generator g, long bi = 2) =>
        new(randn([bi, 1 + Grid * Grid, C], generator: g), randn([1 + Grid * Grid, C], generator: g));

    [Fact]
    public void OutputsHaveQueryShapesInAllThreeWidths()
    {
        using var head = new VisualTokenizerHead(Cfg, Llm, Cond, new Generator(1));
        head.eval();
        var y = head.forward(Input(new Generator(2), bi: 3));
        Assert.Equal(new long[] { 3, Cfg.NumQueries, Cfg.HiddenSize }, y.VisEmbed.shape);
        Assert.Equal(new long[] { 3, Cfg.NumQueries, Llm }, y.TextTokens.shape);
        Assert.Equal(new long[] { 3, Cfg.NumQueries, Cond }, y.DiffusionCond.shape);
    }

    [Fact]
    public void KeysAreThoseOfDeemVisualTokenizer()
    {
        using var head = new VisualTokenizerHead(Cfg, Llm, Cond);
        var keys = head.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "pos_proj.weight", "pos_ln.weight", "post_ln.bias", "proj_t.weight", "proj_i.bias",
                                  "perceiver_resampler.queries", "perceiver_resampler.blip2qformer.layernorm.weight" })
            Assert.Contains(k, keys);
        Assert.Equal(new[] { "pos_proj", "pos_ln", "post_ln", "perceiver_resampler", "proj_t", "proj_i" }.Order(),
            head.NamedParts().Select(p => p.Name).Order());
    }

    [Fact]
    public void ProjectionsStartSmallWithZeroBias()
    {
        using var head = new VisualTokenizerHead(Cfg, 512, 512, new Generator(3));
        var sd = head.state_dict();
        foreach (var p in new[] { "proj_t", "proj_i" })
        {
            var std = sd[p + ".weight"].std().item<float>();
            Assert.InRange(std, 0.8e-3, 1.2e-3);
            Assert.Equal(0f, sd[p + ".bias"].abs().max().item<float>());
        }
    }

    [Fact]
    public void RegionMaskGatesPatchTokensOnTheBinarisedResizedGrid()
    {
        using var head = new VisualTokenizerHead(Cfg, Llm, Cond, new Generator(4));
        head.eval();
        var g = new Generator(5);
        var input = Input(g);
        // 32×32 mask, left half on: bilinear to 4×4 keeps grid columns 0–1, drops columns 2–3.
        var mask = zeros(2, 1, 32, 32);
        mask[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(0, 16)] = 1;
        var withMask = input with { RegionMask = mask };
        var baseOut = head.forward(withMask).VisEmbed;

        Tensor Perturb(long col)
        {
            var e = input.ImageEmbed.clone();
            for (long r = 0; r < Grid; r++)
                e[TensorIndex.Colon, 1 + r * Grid + col] += 5 * randn([2, C], generator: g);
            return e;
        }
        var droppedChanged = head.forward(withMask with { ImageEmbed = Perturb(2) }).VisEmbed;
        Assert.True(MaxAbsDiff(baseOut, droppedChanged) < 1e-6, "tokens outside the mask must not matter");
        var keptChanged = head.forward(withMask with { ImageEmbed = Perturb(1) }).VisEmbed;
        Assert.True(MaxAbsDiff(baseOut, keptChanged) > 1e-4, "tokens inside the mask must matter");

        // An all-ones mask is the identity.
        var full = head.forward(input with { RegionMask = ones(2, 1, 32, 32) }).VisEmbed;
        var none = head.forward(input).VisEmbed;
        Assert.True(MaxAbsDiff(full, none) < 1e-6);
    }

    [Fact]
    public void MaskTokensArePrependedToTheResamplerInput()
    {
        using var head = new VisualTokenizerHead(Cfg, Llm, Cond, new Generator(6));
        head.eval();
        var g = new Generator(7);
        var input = Input(g);
        var tokens = randn([2, 5, C], generator: g);
        var a = head.forward(input with { MaskTokens = tokens }).VisEmbed;
        var b = head.forward(input).VisEmbed;
        Assert.True(MaxAbsDiff(a, b) > 1e-4);
        Assert.Throws<ArgumentException>(() => head.forward(input with { MaskTokens = randn(2, 5, C + 1) }));
    }

    [Fact]
    public void GradientsReachQueriesProjIAndPosProj()
    {
        using var head = new VisualTokenizerHead(Cfg, Llm, Cond, new Generator(8));
        head.train();
        var y = head.forward(Input(new Generator(9)));
        y.DiffusionCond.pow(2).sum().backward();
        var grads = head.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
        Assert.True(grads["proj_i.weight"]!.abs().sum().item<float>() > 0);
        Assert.True(grads["perceiver_resampler.queries"]!.abs().sum().item<float>() > 0);
        Assert.True(grads["pos_proj.weight"]!.abs().sum().item<float>() > 0);
        Assert.True(grads["proj_t.weight"] is null || grads["proj_t.weight"]!.abs().sum().item<float>() == 0);
    }

    [Fact]
    public void PaperScaleParameterCountMatchesReference()
    {
        // §1.11: visual Q-Former 101,662,464 + pos_proj/pos_ln/post_ln/proj_t/proj_i 4,990,976.
        Assert.Equal(101_662_464L + 4_990_976L, CountOnMeta(d => new VisualTokenizerHead(QFormerConfig.VisualPaper, 4096, 1024, device: d)));
    }
}
