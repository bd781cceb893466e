using Deem.Data.Formats;
using Deem.Data.Pipeline;
using Deem.Language;
using static TorchSharp.torch;

namespace Deem.Tests.Data.Pipeline;

[Collection("pipeline world")]
public class Stage1StreamTests(PipelineWorld world)
{
    Stage1Stream Stream(int seed = 5, DataPosition? resume = null, SkipCounter? skips = null) =>
        new(world.Paths, PipelineWorld.Stage(1, seed), PipelineWorld.Tok, PipelineWorld.ImageTokens, skips ?? new SkipCounter(strict: true), resume);

    [Fact]
    public void BatchesArePaddedRightAndImagesFollowTheSoiTokens()
    {
        var cfg = PipelineWorld.Stage(1);
        var sp = PipelineWorld.Tok.Specials;
        using var stream = Stream();
        var seen = new HashSet<string>();
        for (int n = 0; n < 6; n++)
        {
            using var batch = stream.Next();
            seen.Add(batch.Sources[0]);
            var (B, L) = (batch.Ids.shape[0], batch.Ids.shape[1]);
            Assert.Equal(cfg.BatchSize, B);
            Assert.True(L <= cfg.MaxLength);
            var ids = batch.Ids.data<long>().ToArray();
            var mask = batch.AttentionMask.data<long>().ToArray();
            for (int b = 0; b < B; b++)
            {
                int len = Enumerable.Range(0, (int)L).Count(l => mask[b * L + l] == 1);
                Assert.All(Enumerable.Range(0, (int)L), l => Assert.Equal(l < len ? 1L : 0L, mask[b * L + l]));   // ones then zeros
                Assert.All(Enumerable.Range(len, (int)L - len), l => Assert.Equal(sp.Pad, ids[b * L + l]));
                Assert.DoesNotContain(sp.Pad, ids.Skip((int)(b * L)).Take(len).Select(i => (int)i));
                long sois = ids.Skip((int)(b * L)).Take(len).Count(i => i == sp.Soi);
                Assert.Equal(sois, batch.ImagesPerSequence[b]);
                Assert.True(sois <= cfg.MaxImagesPerSequence);
                if (batch.Sources[b] == Stage1Stream.PairSource) Assert.Equal(sp.Bos, ids[b * L]);
            }
            long images = batch.ImagesPerSequence.Sum();
            Assert.Equal([images, 3, cfg.EncoderResolution, cfg.EncoderResolution], batch.ImagesEnc.shape);
            Assert.Equal([images, 3, cfg.DecoderResolution, cfg.DecoderResolution], batch.ImagesDec.shape);
            Assert.InRange(batch.ImagesEnc.min().item<float>(), 0f, 1f);
            Assert.InRange(batch.ImagesEnc.max().item<float>(), 0f, 1f);

            // Visibility by document: token l sees image n iff soi_n < l and no BOS lies in (soi_n, l].
            var layout = ImageLayout.FromIds(batch.Ids, sp);
            Assert.Equal(batch.ImagesPerSequence, layout.ImagesPerSequence);
            var vis = layout.Visible.data<bool>().ToArray();
            long Nmax = layout.MaxImages;
            for (int i = 0; i < layout.ImageCount; i++)
            {
                long b = layout.Rows[i], s = layout.SoiPositions[i];
                for (long l = 0; l < L; l++)
                {
                    bool bosBetween = Enumerable.Range((int)s + 1, (int)Math.Max(0, l - s)).Any(k => ids[b * L + k] == sp.Bos);
                    Assert.Equal(l > s && !bosBetween, vis[(b * L + l) * Nmax + layout.Slots[i]]);
                }
            }
        }
        Assert.Equal(2, seen.Count); // both sources are drawn
    }

    static void AssertSame(DeemBatch a, DeemBatch b)
    {
        Assert.Equal(a.Ids.shape, b.Ids.shape);
        Assert.Equal(a.Ids.data<long>().ToArray(), b.Ids.data<long>().ToArray());
        Assert.Equal(a.AttentionMask.data<long>().ToArray(), b.AttentionMask.data<long>().ToArray());
        Assert.Equal(a.ImagesPerSequence, b.ImagesPerSequence);
        Assert.True(a.ImagesEnc.equal(b.ImagesEnc).all().item<bool>());
        Assert.True(a.ImagesDec.equal(b.ImagesDec).all().item<bool>());
        Assert.Equal(a.Sources, b.Sources);
    }

    [Fact]
    public void SameSeedGivesSameBatchesAndAnotherSeedOthers()
    {
        using var s1 = Stream(seed: 11);
        using var s2 = Stream(seed: 11);
        using var s3 = Stream(seed: 12);
        bool differs = false;
        for (int n = 0; n < 4; n++)
        {
            using var a = s1.Next();
            using var b = s2.Next();
            using var c = s3.Next();
            AssertSame(a, b);
            differs |= !a.Ids.shape.SequenceEqual(c.Ids.shape) || !a.Ids.equal(c.Ids).all().item<bool>();
        }
        Assert.True(differs);
    }

    [Fact]
    public void ResumingFromASavedPositionContinuesExactly()
    {
        const int N = 5, M = 5;
        var straight = new List<DeemBatch>();
        using (var s = Stream(seed: 3))
            for (int n = 0; n < N + M; n++) straight.Add(s.Next());
        string json;
        using (var s = Stream(seed: 3))
        {
            for (int n = 0; n < N; n++) s.Next().Dispose();
            json = s.Position.ToJson();
        }
        var position = DataPosition.Parse(json, "test");
        Assert.Equal(N, position.Batches);
        Assert.True(position.Sources.Values.Any(p => p.BufferIds.Length > 0), "a packing buffer should be carried over");
        Assert.True(position.Sources.Values.Any(p => p.BufferImages.Length > 0), "buffered images should be carried over");
        using (var resumed = Stream(seed: 3, resume: position))
            for (int n = 0; n < M; n++)
            {
                using var b = resumed.Next();
                AssertSame(straight[N + n], b);
            }
        foreach (var b in straight) b.Dispose();
    }

    [Fact]
    public void StreamsWrapAroundTheirSourcesIntoNewEpochs()
    {
        using var s = Stream(seed: 9);
        for (int n = 0; n < 14; n++) s.Next().Dispose();
        Assert.True(s.Position.Sources.Values.Max(p => p.Epoch) >= 1);
    }
}
