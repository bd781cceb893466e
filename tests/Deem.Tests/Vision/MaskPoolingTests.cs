using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Vision;

public class MaskPoolingTests
{
    private static Tensor[] Maps(long B, long C, Generator g) =>
        [randn([B, C, 16, 16], generator: g), randn([B, C, 8, 8], generator: g), randn([B, C, 4, 4], generator: g), randn([B, C, 2, 2], generator: g)];

    [Fact]
    public void AllOnesMaskGivesPlainAveragePooling()
    {
        var g = new Generator(10);
        const int C = 8;
        var pool = new MaskPooling(C, maskShape: 16);
        var maps = Maps(2, C, g);
        var mask = ones(2, 1, 64, 64);
        var tokens = pool.forward(new MaskPoolingInput(maps, mask));
        Assert.Equal(new long[] { 2, 5, C }, tokens.shape);

        var sd = pool.state_dict();
        var (w, b) = (sd["mask_feat_linear.weight"], sd["mask_feat_linear.bias"]);
        for (var i = 0; i < 4; i++)
        {
            var avg = maps[i].mean([2, 3]);                                   // [B, C]
            Assert.True(MaskPooling.MaskedAverage(maps[i], mask).allclose(avg, rtol: 1e-5, atol: 1e-6));
            var expected = avg.matmul(w.t()).add(b);
            Assert.True(tokens.select(1, i).allclose(expected, rtol: 1e-4, atol: 1e-5));
        }
    }

    [Fact]
    public void HalfMaskAveragesOverThatHalf()
    {
        var map = randn([2, 4, 16, 16], generator: new Generator(11));
        var mask = zeros(2, 1, 64, 64);
        mask[.., .., .., ..32] = 1;                                           // left half
        var avg = MaskPooling.MaskedAverage(map, mask);
        var expected = map[.., .., .., ..8].mean([2, 3]);
        Assert.True(avg.allclose(expected, rtol: 1e-5, atol: 1e-6));

        // Top half at the map's own resolution (no resizing).
        var top = zeros(2, 1, 16, 16);
        top[.., .., ..8, ..] = 1;
        Assert.True(MaskPooling.MaskedAverage(map, top).allclose(map[.., .., ..8, ..].mean([2, 3]), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void EmptyMaskGivesZeroNotNaN()
    {
        var avg = MaskPooling.MaskedAverage(randn(1, 4, 8, 8), zeros(1, 1, 8, 8));
        Assert.True(avg.allclose(zeros(1, 4), rtol: 0, atol: 0));
    }

    [Fact]
    public void ShapeTokenIsTheMlpOfTheResizedMask()
    {
        var g = new Generator(12);
        const int C = 8, S = 16;
        var pool = new MaskPooling(C, maskShape: S);
        var mask = zeros(1, 1, 32, 32);
        mask[.., .., 4..20, 10..30] = 1;
        var tokens = pool.forward(new MaskPoolingInput(Maps(1, C, g), mask));

        var sd = pool.state_dict();
        var x = nn.functional.interpolate(mask, [S, S], mode: InterpolationMode.Bilinear, align_corners: false).reshape(1, S * S);
        for (var i = 0; i < 3; i++)
        {
            x = x.matmul(sd[$"mask_linear.layers.{i}.weight"].t()).add(sd[$"mask_linear.layers.{i}.bias"]);
            if (i < 2) x = x.clamp_min(0);
        }
        Assert.True(tokens.select(1, 4).allclose(x, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void GatingZeroesOutsideTheMaskAndKeepsCls()
    {
        var tokens = randn([2, 1 + 4 * 4, 6], generator: new Generator(13));
        var mask = zeros(2, 1, 64, 64);
        mask[0, .., ..32, ..] = 1;                                            // sample 0: top half
        mask[1, .., .., 48..] = 1;                                            // sample 1: last column of the 4×4 grid
        var gated = MaskPooling.GateTokens(tokens, mask, 4, 4);
        Assert.True(gated.select(1, 0).allclose(tokens.select(1, 0), rtol: 0, atol: 0));
        for (var r = 0; r < 4; r++)
        for (var c = 0; c < 4; c++)
        {
            var idx = 1 + r * 4 + c;
            var inside0 = r < 2;
            var inside1 = c == 3;
            Assert.True(gated[0, idx].allclose(inside0 ? tokens[0, idx] : zeros(6), rtol: 0, atol: 0));
            Assert.True(gated[1, idx].allclose(inside1 ? tokens[1, idx] : zeros(6), rtol: 0, atol: 0));
        }

        var map = randn(2, 3, 8, 8);
        var gatedMap = MaskPooling.GateMap(map, mask);
        Assert.True(gatedMap[0, .., 4.., ..].allclose(zeros(3, 4, 8), rtol: 0, atol: 0));
        Assert.True(gatedMap[0, .., ..4, ..].allclose(map[0, .., ..4, ..], rtol: 0, atol: 0));
        Assert.True(gatedMap[1, .., .., ..6].allclose(zeros(3, 8, 6), rtol: 0, atol: 0));
    }

    [Fact]
    public void RejectsMultiChannelMask()
    {
        var pool = new MaskPooling(8, 16);
        Assert.Throws<ArgumentException>(() => pool.forward(new MaskPoolingInput(Maps(1, 8, new Generator(14)), ones(1, 3, 8, 8))));
    }
}
