using Deem.Config;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>
/// A random interleaved batch in DEEM's layout, for model checks and tests: 2 sequences and 3
/// images, text before and after images, two documents in the first sequence, and one image that
/// opens a document (so the NIP first-image rule is exercised).
/// </summary>
public static class SyntheticBatch
{
    public static DeemInput Interleaved(DeemConfig config, Generator generator)
    {
        var t = config.Tokens;
        int nq = config.ImageTokens;
        long Word() => 7 + randint(0, t.BaseVocabSize - 7, new long[] { 1 }, generator: generator).item<long>();
        IEnumerable<long> Words(int n) => Enumerable.Range(0, n).Select(_ => Word());
        IEnumerable<long> Image() => new long[] { t.Soi }.Concat(Enumerable.Repeat((long)t.Image, nq));

        // Row 0: <s> w w <soi>[img] w w w </s> <s> w <soi>[img] w w          (2 documents, 2 images)
        // Row 1: <s> <soi>[img] w w w w </s> <pad>…                            (image opens the document)
        var row0 = new[] { (long)t.Bos }.Concat(Words(2)).Concat(Image()).Concat(Words(3)).Append(t.Eos)
            .Append(t.Bos).Concat(Words(1)).Concat(Image()).Concat(Words(2)).ToList();
        var row1 = new[] { (long)t.Bos }.Concat(Image()).Concat(Words(4)).Append(t.Eos).ToList();
        int L = Math.Max(row0.Count, row1.Count);
        var ids = new long[2, L];
        var mask = new long[2, L];
        for (int j = 0; j < L; j++)
        {
            ids[0, j] = j < row0.Count ? row0[j] : t.Pad;
            mask[0, j] = j < row0.Count ? 1 : 0;
            ids[1, j] = j < row1.Count ? row1[j] : t.Pad;
            mask[1, j] = j < row1.Count ? 1 : 0;
        }
        var enc = rand(new long[] { 3, 3, config.EncoderResolution, config.EncoderResolution }, generator: generator);
        var dec = rand(new long[] { 3, 3, config.DecoderResolution, config.DecoderResolution }, generator: generator);
        return new DeemInput(tensor(ids), tensor(mask), enc, config.BuildDiffusion ? dec : null, Generator: generator);
    }
}
