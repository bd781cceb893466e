using Deem.Language;
using static TorchSharp.torch;
using static Deem.Tests.Language.LlamaTestData;

namespace Deem.Tests.Language;

public class NextTokenLossTests
{
    private const long X = NextTokenLoss.IgnoreIndex;

    private static (Tensor Ids, Tensor Mask) Batch()
    {
        long bos = Tokens.Bos, eos = Tokens.Eos, pad = Tokens.Pad, soi = Tokens.Soi, img = Tokens.Image;
        var row0 = new long[] { bos, soi, img, img, 10, 11, eos, bos, 12, soi, img, img, 13, eos };   // packed, 2 documents
        var row1 = new long[] { bos, 20, 21, soi, img, img, 22, 23, pad, 24, eos, 30, 31, 32 };        // SFT, prompt = first 7
        var mask1 = new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 };
        var ids = tensor(row0.Concat(row1).ToArray(), [2, 14]);
        var mask = tensor(Enumerable.Repeat(1L, 14).Concat(mask1).ToArray(), [2, 14]);
        return (ids, mask);
    }

    [Fact]
    public void LabelsFollowTheIgnoreRules()
    {
        var (ids, mask) = Batch();
        using var _ = ids;
        using var __ = mask;
        using var labels = NextTokenLoss.Labels(ids, mask, Tokens, promptOffsets: [0, 7]);
        long soi = Tokens.Soi, eos = Tokens.Eos;
        // Row 0: BOS→soi ignored, placeholders and the second BOS ignored; text, soi after text and EOS learned.
        var expected0 = new long[] { X, X, X, 10, 11, eos, X, 12, soi, X, X, 13, eos };
        // Row 1: labels of tokens 1..6 are prompt; the pad id and the attention-mask-0 tail are ignored.
        var expected1 = new long[] { X, X, X, X, X, X, 23, X, 24, eos, X, X, X };
        Assert.Equal(expected0.Concat(expected1).ToArray(), labels.data<long>().ToArray());
        Assert.Equal(7 + 3, labels.ne(X).sum().item<long>());
    }

    [Fact]
    public void TextWithoutAnImageBeforeItInItsDocumentIsIgnoredForMarkedRows()
    {
        var (ids, mask) = Batch();
        using var _ = ids;
        using var __ = mask;
        using var labels = NextTokenLoss.Labels(ids, mask, Tokens, ignoreWithoutImage: [true, false]);
        var row0 = labels[0].data<long>().ToArray();
        long soi = Tokens.Soi, eos = Tokens.Eos;
        // Token 8 ("12") opens document 2 before its image: ignored. Its soi (token 9) is learned.
        Assert.Equal(new long[] { X, X, X, 10, 11, eos, X, X, soi, X, X, 13, eos }, row0);
        // Row 1 unmarked: its text before the image (tokens 1, 2) stays a target.
        var row1 = labels[1].data<long>().ToArray();
        Assert.Equal(20, row1[0]);
        Assert.Equal(21, row1[1]);
    }

    [Fact]
    public void LossIsTheMeanFp32CrossEntropyOverKeptLabels()
    {
        var (ids, mask) = Batch();
        using var _ = ids;
        using var __ = mask;
        var V = Tokens.VocabSize;
        using var logits = Random(11, 2, 14, V);
        using var labels = NextTokenLoss.Labels(ids, mask, Tokens, promptOffsets: [0, 7]);
        using var loss = NextTokenLoss.Compute(logits, labels);

        using var logp = logits.log_softmax(-1);
        var lab = labels.data<long>().ToArray();
        double sum = 0;
        var n = 0;
        for (var b = 0; b < 2; b++)
            for (var j = 0; j < 13; j++)
            {
                var y = lab[b * 13 + j];
                if (y == X) continue;
                sum -= logp[b, j, y].item<float>();
                n++;
            }
        Assert.Equal(10, n);
        Assert.Equal(sum / n, loss.item<float>(), 4);
        Assert.Equal(ScalarType.Float32, loss.dtype);

        using var allIgnored = full(2, 13, X, dtype: ScalarType.Int64);
        using var zero = NextTokenLoss.Compute(logits, allIgnored);
        Assert.Equal(0f, zero.item<float>());
    }
}
