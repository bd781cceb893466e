using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Vision;

public class SinCosPositionEmbeddingTests
{
    [Fact]
    public void TableValuesFollowTheFormula()
    {
        // D = 8 → D/4 = 2 frequencies: ω = [10000^0, 10000^(-1/2)] = [1, 0.01].
        var t = SinCosPositionEmbedding.Table(8, 4, clsToken: true);
        Assert.Equal(new long[] { 17, 8 }, t.shape);
        Assert.All(t[0].data<float>().ToArray(), v => Assert.Equal(0f, v));   // CLS row

        // Cell (row 0, col 0) → row 1: sin 0, sin 0, cos 0, cos 0 for both axes.
        Assert.Equal(new[] { 0f, 0f, 1f, 1f, 0f, 0f, 1f, 1f }, t[1].data<float>().ToArray());

        // Cell (row 1, col 2) → row 1 + 1·4 + 2 = 7: the first half encodes the row, the second the column.
        var expected = new[]
        {
            Math.Sin(1), Math.Sin(0.01), Math.Cos(1), Math.Cos(0.01),
            Math.Sin(2), Math.Sin(0.02), Math.Cos(2), Math.Cos(0.02),
        };
        var row = t[7].data<float>().ToArray();
        for (var k = 0; k < 8; k++) Assert.Equal(expected[k], row[k], 1e-6);

        // Cell (row 3, col 0) at D = 1024: channel 1 is sin(3·10000^(-1/256)), channel 768 cos(0) = 1.
        var big = SinCosPositionEmbedding.Table(1024, 16, clsToken: false);
        Assert.Equal(new long[] { 256, 1024 }, big.shape);
        Assert.Equal(Math.Sin(3 * Math.Pow(10000, -1.0 / 256)), big[48, 1].item<float>(), 1e-6);
        Assert.Equal(1.0, big[48, 768].item<float>(), 1e-7);
    }

    [Fact]
    public void ResizeKeepsSameSizeAndConstants()
    {
        var t = SinCosPositionEmbedding.Table(8, 4, clsToken: true);
        var same = SinCosPositionEmbedding.ForTokens(t, 4, 4);
        Assert.True(same.allclose(t, rtol: 0, atol: 0));

        var map = SinCosPositionEmbedding.ForMap(t, 4, 4);                    // [D, 4, 4]
        Assert.Equal(new long[] { 8, 4, 4 }, map.shape);
        Assert.Equal(t[1 + 2 * 4 + 3, 5].item<float>(), map[5, 2, 3].item<float>());

        // Bicubic weights sum to 1: a constant table stays constant at any size.
        var constant = full(16, 3, 0.25f);
        var resized = SinCosPositionEmbedding.Resize(constant, 7, 2);
        Assert.Equal(new long[] { 14, 3 }, resized.shape);
        Assert.True(resized.allclose(full(14, 3, 0.25f), atol: 1e-6));

        var tokens = SinCosPositionEmbedding.ForTokens(t, 2, 3);
        Assert.Equal(new long[] { 7, 8 }, tokens.shape);
        Assert.All(tokens[0].data<float>().ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void RejectsWidthsNotDivisibleByFour()
    {
        Assert.Throws<ArgumentException>(() => SinCosPositionEmbedding.Table(6, 4, clsToken: false));
    }
}
