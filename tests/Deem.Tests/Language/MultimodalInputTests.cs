using Deem.Language;
using static TorchSharp.torch;
using static Deem.Tests.Language.LlamaTestData;

namespace Deem.Tests.Language;

public class MultimodalInputTests
{
    [Fact]
    public void ImageRowsLandExactlyOnThePlaceholdersAndSoiIsAdded()
    {
        long soi = Tokens.Soi, img = Tokens.Image;
        // Row 0: two images (Nq = 2); row 1: one image. Images in row-major order: 0, 1 (row 0), 2 (row 1).
        var idsHost = new long[]
        {
            1, soi, img, img, 7, soi, img, img,
            1, 9, 8, soi, img, img, 5, 6,
        };
        using var ids = tensor(idsHost, [2, 8]);
        const long D = 6;
        using var text = Random(1, 2, 8, D);
        using var vis = Random(2, 3, 2, D);                                     // [B_I=3, Nq=2, D]
        using var soiToken = Random(3, D);
        using var mm = MultimodalEmbedding.Build(text, ids, vis, soiToken, Tokens);
        Assert.Equal(new long[] { 2, 8, D }, mm.shape);

        var visRows = new (int b, int l, int image, int q)[]
        {
            (0, 2, 0, 0), (0, 3, 0, 1), (0, 6, 1, 0), (0, 7, 1, 1), (1, 4, 2, 0), (1, 5, 2, 1),
        };
        foreach (var (b, l, image, q) in visRows)
            Assert.True(mm[b, l].eq(vis[image, q]).all().item<bool>(), $"row {b} pos {l} must be image {image} token {q}");
        foreach (var (b, l) in new[] { (0, 1), (0, 5), (1, 3) })
            Assert.True(mm[b, l].allclose(text[b, l] + soiToken, 1e-6, 1e-6), $"soi at ({b}, {l}) must be text + soi_token");
        foreach (var (b, l) in new[] { (0, 0), (0, 4), (1, 0), (1, 1), (1, 2), (1, 6), (1, 7) })
            Assert.True(mm[b, l].eq(text[b, l]).all().item<bool>(), $"text at ({b}, {l}) must be unchanged");
    }

    [Fact]
    public void SoiTokenAndVisEmbedReceiveGradients()
    {
        long soi = Tokens.Soi, img = Tokens.Image;
        using var ids = tensor(new long[] { 1, soi, img, 4 }, [1, 4]);
        using var text = Random(1, 1, 4, 3);
        using var vis = Random(2, 1, 1, 3).requires_grad_(true);
        using var soiToken = MultimodalEmbedding.CreateSoiToken(3);
        Assert.Equal(0f, soiToken.abs().sum().item<float>());
        using var mm = MultimodalEmbedding.Build(text, ids, vis, soiToken, Tokens);
        mm.sum().backward();
        Assert.Equal(new float[] { 1, 1, 1 }, soiToken.grad!.data<float>().ToArray());
        Assert.Equal(new float[] { 1, 1, 1 }, vis.grad!.data<float>().ToArray());
    }

    [Fact]
    public void PlaceholderCountMismatchNamesBothCounts()
    {
        long soi = Tokens.Soi, img = Tokens.Image;
        using var ids = tensor(new long[] { 1, soi, img, img, img, 4 }, [1, 6]);
        using var text = Random(1, 1, 6, 4);
        using var vis = Random(2, 2, 2, 4);                                     // 4 rows for 3 placeholders
        var e = Assert.Throws<ArgumentException>(() => MultimodalEmbedding.Build(text, ids, vis, null, Tokens));
        Assert.Contains("3 image placeholders", e.Message);
        Assert.Contains("2 images × 2 tokens = 4", e.Message);
    }

    [Fact]
    public void VisibilityMaskKeepsImagesInsideTheirDocumentAndAfterTheirStart()
    {
        var packed = PackedRow();                        // images start (soi) at 1, 5 (document 1) and 12 (document 2)
        long bos = Tokens.Bos, soi = Tokens.Soi, img = Tokens.Image;
        var second = new long[] { 20, 21, bos, 22, soi, img, img, 23, 24, 25, 26, 27, 28, 29, 30, 31 };   // text before its BOS, one image
        using var ids = tensor(packed.Concat(second).ToArray(), [2, 16]);
        var layout = ImageLayout.FromIds(ids, Tokens);

        Assert.Equal(new long[] { 2, 16, 3 }, layout.Visible.shape);
        Assert.Equal(new long[] { 3, 1 }, layout.ImagesPerSequence);
        Assert.Equal(new long[] { 0, 0, 0, 1 }, layout.Rows);
        Assert.Equal(new long[] { 0, 1, 2, 0 }, layout.Slots);
        Assert.Equal(new long[] { 1, 5, 12, 4 }, layout.SoiPositions);

        // Hand-derived: image n is visible from its first placeholder to the end of its document.
        var expected = new bool[2, 16, 3];
        for (var l = 2; l <= 9; l++) expected[0, l, 0] = true;      // image 0: positions 2..9 (document 1 ends at EOS 9)
        for (var l = 6; l <= 9; l++) expected[0, l, 1] = true;      // image 1: positions 6..9
        for (var l = 13; l <= 15; l++) expected[0, l, 2] = true;    // image 2: document 2, positions 13..15
        for (var l = 5; l <= 15; l++) expected[1, l, 0] = true;     // row 1's image: from 5 on
        var got = layout.Visible.to_type(ScalarType.Int64).data<long>().ToArray();
        for (var b = 0; b < 2; b++)
            for (var l = 0; l < 16; l++)
                for (var n = 0; n < 3; n++)
                    Assert.True(expected[b, l, n] == (got[(b * 16 + l) * 3 + n] == 1), $"row {b} token {l} image {n}");

        using var perImage = arange(4, dtype: ScalarType.Float32).view(4, 1) + 1;   // image k → value k+1
        using var slots = layout.ToSlots(perImage);
        Assert.Equal(new float[] { 1, 2, 3, 4, 0, 0 }, slots.reshape(6).data<float>().ToArray());
    }
}
