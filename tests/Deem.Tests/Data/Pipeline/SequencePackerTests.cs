using Deem.Data.Images;
using Deem.Data.Pipeline;
using Deem.Text;

namespace Deem.Tests.Data.Pipeline;

public class SequencePackerTests
{
    static readonly SpecialTokens Sp = SpecialTokens.Tiny;
    const int N = 4;

    /// <summary>A random document: BOS, text ids in [10, 100) and image blocks, EOS; images tagged by a running number.</summary>
    static TokenDoc RandomDoc(Random r, ref int imageNo, int maxText, int maxImages, bool singleImage = false)
    {
        var ids = new List<int> { Sp.Bos };
        var images = new List<BufferedImage>();
        int blocks = singleImage ? 1 : r.Next(0, maxImages + 1);
        for (int k = 0; k < blocks; k++)
        {
            for (int t = r.Next(0, maxText); t > 0; t--) ids.Add(r.Next(10, 100));
            ids.Add(Sp.Soi);
            ids.AddRange(Enumerable.Repeat(Sp.Image, N));
            images.Add(new BufferedImage(ImageRef.File($"img{imageNo++}"), new ImagePair([], 0, [], 0)));
        }
        for (int t = r.Next(1, maxText); t > 0; t--) ids.Add(r.Next(10, 100));
        ids.Add(Sp.Eos);
        return new TokenDoc(ids.ToArray(), images);
    }

    static void CheckSequence(PackedSequence s, int maxLength, int maxImages)
    {
        Assert.InRange(s.Ids.Length, 1, maxLength);
        var sois = Enumerable.Range(0, s.Ids.Length).Where(i => s.Ids[i] == Sp.Soi).ToList();
        Assert.Equal(sois.Count, s.Images.Count);
        Assert.True(sois.Count <= maxImages, $"{sois.Count} images > {maxImages}");
        foreach (int p in sois) // the whole block is inside the sequence
            Assert.All(Enumerable.Range(p + 1, N), k => Assert.True(k < s.Ids.Length && s.Ids[k] == Sp.Image, $"block at {p} split"));
        Assert.NotEqual(Sp.Image, s.Ids[0]); // no sequence starts inside a block
    }

    [Theory]
    [InlineData(1, 40, 3)]
    [InlineData(2, 24, 2)]
    [InlineData(3, 64, 1)]
    public void ImageTruncationNeverSplitsBlocksAndLosesNothing(int seed, int maxLength, int maxImages)
    {
        var r = new Random(seed);
        var packer = new SequencePacker(Sp, N, maxLength, maxImages, PackTruncation.Image);
        var fed = new List<int>();
        var fedImages = new List<string>();
        var got = new List<int>();
        var gotImages = new List<string>();
        int imageNo = 0;
        for (int d = 0; d < 60; d++)
        {
            var doc = RandomDoc(r, ref imageNo, maxText: 30, maxImages: 5); // some documents are longer than max_length
            fed.AddRange(doc.Ids);
            fedImages.AddRange(doc.Images.Select(i => i.Ref.Source));
            packer.Add(doc);
            while (packer.TryCut() is { } s)
            {
                CheckSequence(s, maxLength, maxImages);
                got.AddRange(s.Ids);
                gotImages.AddRange(s.Images.Select(i => i.Ref.Source));
            }
        }
        while (packer.BufferIds.Count > 0) { var s = packer.Cut(); CheckSequence(s, maxLength, maxImages); got.AddRange(s.Ids); gotImages.AddRange(s.Images.Select(i => i.Ref.Source)); }
        Assert.Equal(fed, got);
        Assert.Equal(fedImages, gotImages);
    }

    [Fact]
    public void ImageTruncationCutsRightAfterTheKthBlockAndBeforeASplitBlock()
    {
        var packer = new SequencePacker(Sp, N, 20, 2, PackTruncation.Image);
        int[] block = [Sp.Soi, .. Enumerable.Repeat(Sp.Image, N)];
        int[] doc = [Sp.Bos, 11, .. block, 12, .. block, 13, .. block, 14, Sp.Eos]; // 3 images, length 20
        var img = Enumerable.Range(0, 3).Select(i => new BufferedImage(ImageRef.File($"i{i}"), new ImagePair([], 0, [], 0))).ToList();
        packer.Add(doc, img);
        var s = packer.TryCut()!;
        Assert.Equal(doc[..(3 + N + 1 + N + 1)], s.Ids); // BOS 11 block 12 block | 13 ...
        Assert.Equal(["i0", "i1"], s.Images.Select(i => i.Ref.Source));
        // A cut at max_length inside a block moves the whole block on.
        var p2 = new SequencePacker(Sp, N, 10, 5, PackTruncation.Image);
        int[] d2 = [Sp.Bos, 11, 12, 13, 14, 15, 16, 17, .. block, 18, Sp.Eos];
        p2.Add(d2, img.Take(1).ToList());
        Assert.Equal(d2[..8], p2.TryCut()!.Ids);
        Assert.Equal(d2[8..], p2.Cut().Ids);
    }

    [Fact]
    public void SampleTruncationKeepsPairsWhole()
    {
        var r = new Random(7);
        const int maxLength = 40, maxImages = 3;
        var packer = new SequencePacker(Sp, N, maxLength, maxImages, PackTruncation.Sample);
        var docs = new List<int[]>();
        int imageNo = 0;
        var seqs = new List<PackedSequence>();
        for (int d = 0; d < 80; d++)
        {
            var doc = RandomDoc(r, ref imageNo, maxText: 12, maxImages: 1, singleImage: true);
            docs.Add(doc.Ids);
            packer.Add(doc);
            while (packer.TryCut() is { } s) seqs.Add(s);
        }
        Assert.NotEmpty(seqs);
        int next = 0;
        foreach (var s in seqs)
        {
            CheckSequence(s, maxLength, maxImages);
            Assert.Equal(Sp.Bos, s.Ids[0]);
            // The sequence is a run of whole documents.
            int pos = 0;
            while (pos < s.Ids.Length) { Assert.Equal(docs[next], s.Ids[pos..(pos + docs[next].Length)]); pos += docs[next++].Length; }
        }
    }
}
