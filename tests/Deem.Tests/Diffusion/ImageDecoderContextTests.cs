using Deem.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Diffusion;

public class ImageDecoderContextTests
{
    const long Bos = 1, Eos = 2, Soi = 32000, Img = 32001, Pad = 31999;

    // Row 0: two documents, three images. Row 1: no BOS before its first image, then a document.
    static readonly long[,] Ids =
    {
        { Bos, 5, Soi, Img, Img, 6, Soi, Img, Img, Eos, Bos, Soi, Img, Img, 7, Eos },
        { 8, Soi, Img, Img, 9, Bos, 10, 11, Soi, Img, Img, Eos, Pad, Pad, Pad, Pad },
    };

    // hidden[b, l, d] = 100·b + l + d/10: every state names its own position.
    static Tensor Hidden(long d) =>
        (100 * arange(2).view(2, 1, 1) + arange(16).view(1, 16, 1) + arange(d).view(1, 1, d) / 10.0).to(ScalarType.Float32);

    [Fact]
    public void ExtractsReversedContextFromNearestBos()
    {
        const long D = 4;
        var ctx = ImageDecoderContext.Extract(Hidden(D), tensor(Ids), Bos, Soi);

        // Images in row-major <soi> order: (row, soi, bos) = (0,2,0), (0,6,0), (0,11,10), (1,1,0), (1,8,5).
        // Only image 1 has a previous image in its document (image 0); image 2 opens a new document,
        // image 3 a new row, and image 4 is preceded by image 3 from before its BOS.
        Assert.Equal(new long[] { 3, 7, 2, 2, 4 }, ctx.Lengths.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 0, 0, 1, 1 }, ctx.Row.data<long>().ToArray());
        Assert.Equal(new long[] { 2, 6, 11, 1, 8 }, ctx.SoiPosition.data<long>().ToArray());
        Assert.Equal(new[] { true, true, false, false, true }, ctx.IsCondImage.data<bool>().ToArray());
        Assert.Equal(new long[] { -1, 0, -1, -1, -1 }, ctx.PreviousImage.data<long>().ToArray());
        Assert.Equal(new long[] { 5, 7, D }, ctx.Features.shape);

        // Position j of image i holds the state at soi_i − j; the rest is zero and masked.
        var rows = new long[] { 0, 0, 0, 1, 1 };
        var sois = new long[] { 2, 6, 11, 1, 8 };
        var lens = new long[] { 3, 7, 2, 2, 4 };
        for (var i = 0; i < 5; i++)
            for (var j = 0; j < 7; j++)
            {
                var expected = j < lens[i] ? 100 * rows[i] + sois[i] - j : 0;
                Assert.Equal(expected, ctx.Features[i, j, 0].item<float>(), 1e-5);
                Assert.Equal(j < lens[i] ? 1L : 0L, ctx.Mask[i, j].item<long>());
                if (j < lens[i]) Assert.Equal(expected + 0.3f, ctx.Features[i, j, 3].item<float>(), 1e-5);
                else Assert.Equal(0f, ctx.Features[i, j, 3].item<float>());
            }
    }

    [Fact]
    public void GradientFlowsOnlyIntoContextStates()
    {
        var h = Hidden(3).requires_grad_(true);
        var ctx = ImageDecoderContext.Extract(h, tensor(Ids), Bos, Soi);
        ctx.Features.sum().backward();
        var g = h.grad!;
        // Row 0 position 3 is an image placeholder after <soi>@2 but before <soi>@6, so it is in image 1's context.
        Assert.Equal(1f, g[0, 3, 0].item<float>());
        Assert.Equal(2f, g[0, 2, 0].item<float>());    // in the contexts of images 0 and 1
        Assert.Equal(0f, g[0, 12, 0].item<float>());   // after the last <soi> of the row
        Assert.Equal(0f, g[1, 4, 0].item<float>());    // before row 1's BOS, after its first <soi>
        Assert.Equal(1f, g[1, 0, 0].item<float>());    // row 1 starts without BOS: context starts at 0
    }

    [Fact]
    public void NoSoiIsAnError()
    {
        var ids = tensor(new long[,] { { Bos, 5, 6 } });
        Assert.Throws<ArgumentException>(() => ImageDecoderContext.Extract(zeros(1, 3, 2), ids, Bos, Soi));
    }

    [Fact]
    public void SinCosTableMatchesHandValues()
    {
        var t = ImageDecoderContext.SinCos1D(8, 5);
        Assert.Equal(new long[] { 5, 8 }, t.shape);
        for (var k = 0; k < 4; k++)
        {
            Assert.Equal(0f, t[0, k].item<float>());
            Assert.Equal(1f, t[0, 4 + k].item<float>());
        }
        // ω_k = 10000^(−k/4): row 3, k = 1 → sin(3·0.1), cos(3·0.1).
        Assert.Equal((float)Math.Sin(0.3), t[3, 1].item<float>(), 1e-6);
        Assert.Equal((float)Math.Cos(0.3), t[3, 5].item<float>(), 1e-6);
        Assert.Equal((float)Math.Sin(2.0), t[2, 0].item<float>(), 1e-6);
    }
}
