using Deem.Config;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Vision;

public class ConvNextTests
{
    [Fact]
    public void LayerNorm2dEqualsChannelsLastLayerNorm()
    {
        var g = new Generator(1);
        var ln2d = new LayerNorm2d(6, eps: 1e-6);
        using (no_grad())
        {
            var sd = ln2d.state_dict();
            sd["weight"].copy_(randn(6, generator: g));
            sd["bias"].copy_(randn(6, generator: g));
        }
        var x = randn([2, 6, 3, 5], generator: g);
        var y = ln2d.forward(x);

        // Slow reference: normalise each pixel's channel vector by hand (biased variance).
        var xs = x.permute(0, 2, 3, 1);                                       // [B, H, W, C]
        var mean = xs.mean([3], keepdim: true);
        var variance = xs.sub(mean).pow(2).mean([3], keepdim: true);
        var w = ln2d.state_dict()["weight"];
        var b = ln2d.state_dict()["bias"];
        var expected = xs.sub(mean).div(variance.add(1e-6).sqrt()).mul(w).add(b).permute(0, 3, 1, 2);
        Assert.True(y.allclose(expected, rtol: 1e-5, atol: 1e-5));

        var ln = nn.LayerNorm(6, 1e-6);
        using (no_grad())
        {
            ln.weight!.copy_(w);
            ln.bias!.copy_(b);
        }
        Assert.True(y.allclose(ln.forward(xs).permute(0, 3, 1, 2), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void BlockMatchesSlowReference()
    {
        var rng = new Generator(2);
        const int C = 3, H = 5, W = 4;
        var block = new ConvNextBlock(C, kernelSize: 7, mlpRatio: 4, lsInitValue: 1e-6, normEps: 1e-6, dropPath: 0.0, generator: null);
        var sd = block.state_dict();
        using (no_grad())
        {
            sd["gamma"].copy_(tensor(new[] { 0.5f, -1.0f, 2.0f }));
            sd["norm.weight"].copy_(randn(C, generator: rng));
            sd["norm.bias"].copy_(randn(C, generator: rng));
        }
        block.eval();
        var x = randn([1, C, H, W], generator: rng);
        var y = block.forward(x);

        var xd = x.data<float>().ToArray();
        var kw = sd["conv_dw.weight"].data<float>().ToArray();                 // [C, 1, 7, 7]
        var kb = sd["conv_dw.bias"].data<float>().ToArray();
        var conv = new double[C, H, W];
        for (var c = 0; c < C; c++)
        for (var i = 0; i < H; i++)
        for (var j = 0; j < W; j++)
        {
            double s = kb[c];
            for (var u = 0; u < 7; u++)
            for (var v = 0; v < 7; v++)
            {
                int ii = i + u - 3, jj = j + v - 3;
                if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
                s += kw[(c * 7 + u) * 7 + v] * xd[(c * H + ii) * W + jj];
            }
            conv[c, i, j] = s;
        }
        var nw = sd["norm.weight"].data<float>().ToArray();
        var nb = sd["norm.bias"].data<float>().ToArray();
        var w1 = sd["mlp.fc1.weight"].data<float>().ToArray();                // [4C, C]
        var b1 = sd["mlp.fc1.bias"].data<float>().ToArray();
        var w2 = sd["mlp.fc2.weight"].data<float>().ToArray();                // [C, 4C]
        var b2 = sd["mlp.fc2.bias"].data<float>().ToArray();
        var g = sd["gamma"].data<float>().ToArray();
        var yd = y.data<float>().ToArray();
        for (var i = 0; i < H; i++)
        for (var j = 0; j < W; j++)
        {
            double mean = 0, var = 0;
            for (var c = 0; c < C; c++) mean += conv[c, i, j] / C;
            for (var c = 0; c < C; c++) var += Math.Pow(conv[c, i, j] - mean, 2) / C;
            var n = new double[C];
            for (var c = 0; c < C; c++) n[c] = (conv[c, i, j] - mean) / Math.Sqrt(var + 1e-6) * nw[c] + nb[c];
            var hidden = new double[4 * C];
            for (var k = 0; k < 4 * C; k++)
            {
                double s = b1[k];
                for (var c = 0; c < C; c++) s += w1[k * C + c] * n[c];
                hidden[k] = 0.5 * s * (1 + Erf(s / Math.Sqrt(2)));
            }
            for (var c = 0; c < C; c++)
            {
                double s = b2[c];
                for (var k = 0; k < 4 * C; k++) s += w2[c * 4 * C + k] * hidden[k];
                var expected = xd[(c * H + i) * W + j] + g[c] * s;
                Assert.Equal(expected, yd[(c * H + i) * W + j], 1e-4);
            }
        }
    }

    [Fact]
    public void DropPathRatesRiseLinearlyOverAllBlocks()
    {
        var rates = ConvNext.DropPathRates(ConvNextConfig.Tiny with { DropPathRate = 0.4 });
        // 5 blocks: linspace(0, 0.4, 5) split 1/1/2/1.
        Assert.Equal(new[] { 0.0 }, rates[0]);
        Assert.Equal(new[] { 0.1 }, rates[1].Select(r => Math.Round(r, 12)));
        Assert.Equal(new[] { 0.2, 0.3 }, rates[2].Select(r => Math.Round(r, 12)));
        Assert.Equal(new[] { 0.4 }, rates[3].Select(r => Math.Round(r, 12)));
        var trunk = new ConvNext(ConvNextConfig.Tiny with { DropPathRate = 0.4 });
        Assert.Equal(rates.SelectMany(r => r), trunk.Blocks.Select(b => b.StochasticDepth.Rate));
    }

    [Fact]
    public void DropPathIsIdentityInEvalAndSeededInTrain()
    {
        var x = ones(2000, 1, 1, 1);
        var gen = new Generator(5);
        var dp = new DropPath(0.3, gen);
        dp.eval();
        Assert.True(dp.forward(x).allclose(x, rtol: 0, atol: 0));

        dp.train();
        var a = dp.forward(x);
        var values = a.flatten().data<float>().ToArray();
        Assert.All(values, v => Assert.True(v == 0f || Math.Abs(v - 1 / 0.7f) < 1e-6));
        var kept = values.Count(v => v != 0f) / 2000.0;
        Assert.InRange(kept, 0.65, 0.75);

        gen.manual_seed(5);
        Assert.True(dp.forward(x).allclose(a, rtol: 0, atol: 0));
        Assert.False(dp.forward(x).allclose(a, rtol: 0, atol: 0));                                 // the stream moved on
    }

    [Fact]
    public void StochasticDepthInTrunkIsIdentityInEvalAndReproducibleInTrain()
    {
        // Layer scale 1 so that a dropped branch visibly changes the output (1e-6 would hide it).
        var cfg = ConvNextConfig.Tiny with { DropPathRate = 0.5, LsInitValue = 1.0 };
        var plain = new ConvNext(cfg with { DropPathRate = 0.0 });
        var gen = new Generator(11);
        var trunk = new ConvNext(cfg, gen);
        trunk.load_state_dict(plain.state_dict());
        var x = randn(4, 3, 64, 64);

        plain.eval();
        trunk.eval();
        var reference = plain.forward(x).Stages[3];
        Assert.True(trunk.forward(x).Stages[3].allclose(reference, rtol: 0, atol: 0));

        trunk.train();
        gen.manual_seed(11);
        var first = trunk.forward(x).Stages[3];
        gen.manual_seed(11);
        var second = trunk.forward(x).Stages[3];
        Assert.True(first.allclose(second, rtol: 0, atol: 0));
        Assert.False(first.allclose(reference, rtol: 1e-3, atol: 1e-3));
    }

    [Fact]
    public void TrunkStageShapes()
    {
        var trunk = new ConvNext(ConvNextConfig.Tiny);
        trunk.eval();
        var f = trunk.forward(rand(2, 3, 64, 96));
        Assert.Equal(new long[] { 2, 16, 16, 24 }, f.Stages[0].shape);
        Assert.Equal(new long[] { 2, 32, 8, 12 }, f.Stages[1].shape);
        Assert.Equal(new long[] { 2, 48, 4, 6 }, f.Stages[2].shape);
        Assert.Equal(new long[] { 2, 64, 2, 3 }, f.Stages[3].shape);
        Assert.Equal(new long[] { 2, 64 }, f.Pooled.shape);
    }

    [Fact]
    public void TruncatedNormalHasTheTruncatedMoments()
    {
        var t = empty(200_000);
        ConvNext.TruncatedNormal(t, 0.0, 1.0, -1.0, 1.0, new Generator(4));
        // N(0,1) truncated to [-1, 1]: mean 0, std = sqrt(1 − 2·φ(1)/(2Φ(1)−1)) = 0.53956.
        Assert.InRange(t.min().item<float>(), -1f, -0.999f);
        Assert.InRange(t.max().item<float>(), 0.999f, 1f);
        Assert.Equal(0.0, t.mean().item<float>(), 0.01);
        Assert.Equal(0.53956, t.std().item<float>(), 0.005);

        // The trunk's init draws from the global generator: 768 draws of N(0, 0.02) have std 0.02 ± 0.0005,
        // whatever its state, so this holds beside tests that draw from it in parallel.
        var trunk = new ConvNext(ConvNextConfig.Tiny);
        var w = trunk.state_dict()["stem.0.weight"];
        Assert.Equal(0.02, w.std().item<float>(), 0.006);
    }

    private static double Erf(double x)
    {
        // Abramowitz–Stegun 7.1.26 is too coarse; use the series/continued form via high-precision Taylor for |x| < 3.
        var sum = 0.0;
        var term = x;
        for (var n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }
}
