using Deem.Attention;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.Attention.AttentionTestUtil;

namespace Deem.Tests.Attention;

public class MsDeformAttnCoreTests
{
    /// <summary>
    /// Explicit per-point bilinear interpolation with zero padding, align_corners=False: pixel (i, j)
    /// has its centre at ((j+0.5)/W, (i+0.5)/H), so x maps to column x·W − 0.5; corners outside the
    /// map contribute 0.
    /// </summary>
    private static double[] SlowReference(double[] value, long B, long N, long S, long nH, long hD,
        (long H, long W)[] shapes, double[] loc, double[] attn, long Lq, long P)
    {
        var L = shapes.Length;
        var starts = new long[L];
        for (var l = 1; l < L; l++) starts[l] = starts[l - 1] + shapes[l - 1].H * shapes[l - 1].W;
        var result = new double[B * Lq * nH * hD];
        double V(long b, long n, long s, long h, long d) => value[(((b * N + n) * S + s) * nH + h) * hD + d];

        for (long b = 0; b < B; b++)
        for (long q = 0; q < Lq; q++)
        for (long h = 0; h < nH; h++)
        for (long n = 0; n < N; n++)
        for (var l = 0; l < L; l++)
        for (long p = 0; p < P; p++)
        {
            var (H, W) = shapes[l];
            var baseIdx = ((((b * Lq + q) * nH + h) * N + n) * L + l) * P + p;
            var x = loc[baseIdx * 2];
            var y = loc[baseIdx * 2 + 1];
            var a = attn[baseIdx];
            var px = x * W - 0.5;
            var py = y * H - 0.5;
            var x0 = (long)Math.Floor(px);
            var y0 = (long)Math.Floor(py);
            var fx = px - x0;
            var fy = py - y0;
            foreach (var (dy, wy) in new[] { (0L, 1 - fy), (1L, fy) })
            foreach (var (dx, wx) in new[] { (0L, 1 - fx), (1L, fx) })
            {
                var (yi, xi) = (y0 + dy, x0 + dx);
                if (yi < 0 || yi >= H || xi < 0 || xi >= W) continue;
                for (long d = 0; d < hD; d++)
                    result[((b * Lq + q) * nH + h) * hD + d] += a * wy * wx * V(b, n, starts[l] + yi * W + xi, h, d);
            }
        }
        return result;
    }

    [Fact]
    public void MultiImageCoreEqualsPerPointBilinearLoop()
    {
        var (B, N, nH, hD, Lq, P) = (2L, 2L, 3L, 4L, 5L, 3L);
        (long H, long W)[] shapes = [(5, 7), (3, 4), (2, 2)];
        var S = shapes.Sum(s => s.H * s.W);
        var L = (long)shapes.Length;
        var g = new Generator(7);
        var value = torch.randn(new[] { B, N, S, nH, hD }, generator: g);
        // Locations partly outside [0, 1] so the zero padding is exercised.
        var loc = torch.rand(new[] { B, Lq, nH, N, L, P, 2 }, generator: g) * 1.4 - 0.2;
        var attn = torch.rand(new[] { B, Lq, nH, N, L, P }, generator: g);

        var fast = MsDeformAttnCore.Forward(value, shapes, loc, attn);
        Assert.Equal(new[] { B, Lq, nH * hD }, fast.shape);
        var slow = SlowReference(Doubles(value), B, N, S, nH, hD, shapes, Doubles(loc), Doubles(attn), Lq, P);
        var got = Doubles(fast);
        Assert.Equal(slow.Length, got.Length);
        for (var i = 0; i < slow.Length; i++)
            Assert.True(Math.Abs(slow[i] - got[i]) < 1e-5, $"element {i}: slow {slow[i]} vs core {got[i]}");
        Assert.Contains(slow, v => Math.Abs(v) > 0.1);
    }

    [Fact]
    public void SingleImageFormEqualsMultiImageFormWithOneImage()
    {
        var (B, nH, hD, Lq, P) = (1L, 2L, 3L, 4L, 2L);
        (long H, long W)[] shapes = [(4, 4), (2, 3)];
        var S = shapes.Sum(s => s.H * s.W);
        var g = new Generator(3);
        var value = torch.randn(new[] { B, S, nH, hD }, generator: g);
        var loc = torch.rand(new[] { B, Lq, nH, 2L, P, 2 }, generator: g);
        var attn = torch.rand(new[] { B, Lq, nH, 2L, P }, generator: g);
        var single = MsDeformAttnCore.ForwardSingleImage(value, shapes, loc, attn);
        var slow = SlowReference(Doubles(value), B, 1, S, nH, hD, shapes, Doubles(loc), Doubles(attn), Lq, P);
        var got = Doubles(single);
        for (var i = 0; i < slow.Length; i++)
            Assert.True(Math.Abs(slow[i] - got[i]) < 1e-5, $"element {i}: slow {slow[i]} vs core {got[i]}");
    }

    [Fact]
    public void PixelCentreSamplesThatPixelExactly()
    {
        // One 3×4 map, location at the centre of pixel (row 1, col 2): the bilinear sample is that pixel.
        var value = torch.arange(12, dtype: ScalarType.Float32).view(1, 1, 12, 1, 1);        // [B, N, S, nH, hD]
        var loc = torch.tensor(new[] { 2.5f / 4, 1.5f / 3 }).view(1, 1, 1, 1, 1, 1, 2);
        var attn = torch.ones(new long[] { 1, 1, 1, 1, 1, 1 });
        var o = MsDeformAttnCore.Forward(value, [(3, 4)], loc, attn);
        Assert.Equal(6.0, o.item<float>(), 5);
    }

    [Fact]
    public void GradientsReachValuesLocationsAndWeights()
    {
        (long H, long W)[] shapes = [(4, 4), (2, 2)];
        var g = new Generator(11);
        var value = torch.randn(new[] { 1L, 2, 20, 2, 3 }, generator: g).requires_grad_();
        var loc = (torch.rand(new[] { 1L, 3, 2, 2, 2, 2, 2 }, generator: g) * 0.8 + 0.1).requires_grad_();
        var attn = torch.rand(new[] { 1L, 3, 2, 2, 2, 2 }, generator: g).requires_grad_();
        MsDeformAttnCore.Forward(value, shapes, loc, attn).square().sum().backward();
        Assert.True(value.grad!.abs().sum().item<float>() > 0);
        Assert.True(loc.grad!.abs().sum().item<float>() > 0);
        Assert.True(attn.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void WrongSpatialShapesAreRejected()
    {
        var value = torch.zeros(new long[] { 1, 1, 10, 1, 1 });
        var loc = torch.zeros(new long[] { 1, 1, 1, 1, 1, 1, 2 });
        var attn = torch.zeros(new long[] { 1, 1, 1, 1, 1, 1 });
        var e = Assert.Throws<ArgumentException>(() => MsDeformAttnCore.Forward(value, [(3, 3)], loc, attn));
        Assert.Contains("S = 10", e.Message);
    }

    /// <summary>The per-level formulation (one weighted sum per level, accumulated), with autograd.</summary>
    private static Tensor PerLevelReference(Tensor value, (long H, long W)[] shapes, Tensor loc, Tensor attn)
    {
        var (B, N, nH, hD) = (value.shape[0], value.shape[1], value.shape[3], value.shape[4]);
        var (Lq, P) = (loc.shape[1], loc.shape[5]);
        var grids = loc * 2 - 1;
        Tensor? acc = null;
        long start = 0;
        for (var l = 0; l < shapes.Length; l++)
        {
            var (H, W) = shapes[l];
            var v = value.narrow(2, start, H * W).permute(0, 3, 1, 4, 2).reshape(B * nH * N, hD, H, W);
            var g = grids.select(4, l).permute(0, 2, 3, 1, 4, 5).reshape(B * nH * N, Lq, P, 2);
            var sampled = nn.functional.grid_sample(v, g, GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros, align_corners: false);
            var w = attn.select(4, l).permute(0, 2, 3, 1, 4).reshape(B * nH * N, 1, Lq, P);
            var o = (sampled * w).sum(-1).view(B, nH, N, hD, Lq).sum(2);
            acc = acc is null ? o : acc + o;
            start += H * W;
        }
        return acc!.permute(0, 3, 1, 2).reshape(B, Lq, nH * hD);
    }

    [Fact]
    public void OutputAndGradientsEqualThePerLevelFormulation()
    {
        (long H, long W)[] shapes = [(5, 6), (3, 3), (2, 1)];
        var (B, N, nH, hD, Lq, P, L) = (2L, 2L, 2L, 3L, 4L, 3L, 3L);
        var S = shapes.Sum(s => s.H * s.W);
        var g = new Generator(5);
        var value0 = torch.randn(new[] { B, N, S, nH, hD }, generator: g);
        var loc0 = torch.rand(new[] { B, Lq, nH, N, L, P, 2 }, generator: g) * 1.4 - 0.2;
        var attn0 = torch.rand(new[] { B, Lq, nH, N, L, P }, generator: g);
        var upstream = torch.randn(new[] { B, Lq, nH * hD }, generator: g);

        (Tensor Out, Tensor[] Grads) Run(Func<Tensor, Tensor, Tensor, Tensor> f)
        {
            var (value, loc, attn) = (value0.clone().requires_grad_(), loc0.clone().requires_grad_(), attn0.clone().requires_grad_());
            var o = f(value, loc, attn);
            (o * upstream).sum().backward();
            return (o.detach(), [value.grad!, loc.grad!, attn.grad!]);
        }
        var core = Run((v, l, a) => MsDeformAttnCore.Forward(v, shapes, l, a));
        var reference = Run((v, l, a) => PerLevelReference(v, shapes, l, a));
        Assert.True(core.Out.allclose(reference.Out, rtol: 1e-5, atol: 1e-6));
        for (var i = 0; i < 3; i++)
        {
            Assert.True(reference.Grads[i].abs().sum().item<float>() > 0);
            Assert.True(core.Grads[i].allclose(reference.Grads[i], rtol: 1e-5, atol: 1e-5), $"gradient {i} differs");
        }
    }
}
