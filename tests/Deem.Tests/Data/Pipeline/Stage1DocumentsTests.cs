using Deem.Data.Formats;
using Deem.Data.Images;
using Deem.Data.Pipeline;
using Deem.Tests.Data;
using static TorchSharp.torch;

namespace Deem.Tests.Data.Pipeline;

[Collection("pipeline world")]
public class Stage1DocumentsTests(PipelineWorld world)
{
    static readonly DualTransform Transform = new(16, 24, CenterCrop: true);

    Stage1Documents Docs(SkipCounter? skips = null, bool flip = false, double imageFirst = 0.5) =>
        new(PipelineWorld.Tok, PipelineWorld.ImageTokens, 96, Transform, flip, imageFirst, skips ?? new SkipCounter(strict: true));

    string[] WorldImages() => Directory.GetFiles(Path.Combine(world.Root, "mmc4", "images")).OrderBy(f => f, StringComparer.Ordinal).ToArray();

    /// <summary>A document over sentences s0 … s9 with one image per sentence and the given similarities.</summary>
    Mmc4Record Record(double[] sims)
    {
        var files = WorldImages();
        var infos = sims.Select((s, i) => new Mmc4ImageInfo(Path.GetFileName(files[i % files.Length]), i, s, "")).ToList();
        var text = sims.Select((_, i) => $"the shape number {i} is red.").ToList();
        return new Mmc4Record(new Mmc4Document(text, infos, []), infos.Select((_, i) => files[i % files.Length]).ToList(), "test:1");
    }

    [Fact]
    public void LowSimilarityImagesAreDroppedAndAtMostSixKeptInSentenceOrder()
    {
        double[] sims = [0.30, 0.10, 0.25, 0.239, 0.24, 0.5, 0.26, 0.27, 0.20, 0.28, 0.31]; // 8 at ≥ 0.24
        var record = Record(sims);
        var docs = Docs();
        var sp = PipelineWorld.Tok.Specials;
        var chosenSentences = new HashSet<int>();
        for (int seed = 0; seed < 20; seed++)
        {
            var doc = docs.FromMmc4(record, PipelineRng.For(seed, "t"))!;
            Assert.Equal(6, doc.Images.Count);
            Assert.Equal(6, doc.Ids.Count(i => i == sp.Soi));
            Assert.Equal(sp.Bos, doc.Ids[0]);
            Assert.Equal(sp.Eos, doc.Ids[^1]);
            string text = PipelineWorld.Tok.Decode(doc.Ids);
            var matched = doc.Images.Select(im => Array.IndexOf(WorldImages(), im.Ref.Source)).ToList();
            // Only images whose similarity is ≥ 0.24 (world image i is matched to sentence i in this record).
            Assert.All(matched, m => Assert.True(sims[m] >= 0.24, $"image {m} has sim {sims[m]}"));
            Assert.Equal(matched.OrderBy(m => m), matched);                  // re-sorted by sentence
            foreach (var m in matched) chosenSentences.Add(m);
            // No spaces around image blocks, sentences joined by one space.
            Assert.DoesNotContain(" <|startofimage|>", text);
            Assert.DoesNotContain("<|sniffer|> ", text);
        }
        Assert.Equal(8, chosenSentences.Count); // the random choice reaches every eligible image
        var none = docs.FromMmc4(Record([0.1, 0.2, 0.239]), PipelineRng.For(0, "t"));
        Assert.Null(none);
        Assert.Equal(1, docs.Rejected["no image"]);
    }

    [Fact]
    public void SingleImageDocumentsAreRejectedHalfTheTime()
    {
        var docs = Docs();
        var record = Record([0.3, 0.1]);
        int kept = Enumerable.Range(0, 200).Count(s => docs.FromMmc4(record, PipelineRng.For(s, "single")) is not null);
        Assert.InRange(kept, 70, 130);
        Assert.Equal(200 - kept, docs.Rejected["single image"]);
    }

    [Fact]
    public void ImageFirstProbabilityPlacesBlocksBeforeOrAfterTheirSentence()
    {
        var record = Record([0.3, 0.3]);
        var sp = PipelineWorld.Tok.Specials;
        var first = Docs(imageFirst: 1.0).FromMmc4(record, PipelineRng.For(1, "p"))!;
        Assert.Equal(sp.Soi, first.Ids[1]); // BOS then the first image
        var last = Docs(imageFirst: 0.0).FromMmc4(record, PipelineRng.For(1, "p"))!;
        Assert.Equal(sp.Image, last.Ids[^2]); // the last block right before </s>
        Assert.NotEqual(sp.Soi, last.Ids[1]);
    }

    [Fact]
    public void PairsAreLowercasedAndBothViewsShareTheFlip()
    {
        var skips = new SkipCounter(strict: true);
        var samples = WebDataset.ReadDirectory(Path.Combine(world.Root, "laion"), skips).Take(6).ToList();
        var docs = Docs(flip: true);
        var flips = new HashSet<bool>();
        var sp = PipelineWorld.Tok.Specials;
        for (int seed = 0; seed < 12; seed++)
        {
            var sample = samples[seed % samples.Count] with { Caption = "Two RED Arrows" };
            var doc = docs.FromPair(sample, PipelineRng.For(seed, "pair"))!;
            Assert.Equal(PipelineWorld.Tok.Encode("two red arrows"), doc.Ids.Where(i => i != sp.Soi && i != sp.Image && i != sp.Bos && i != sp.Eos));
            var im = doc.Images.Single();
            flips.Add(im.Ref.Flip);
            using var pixels = ImageTensors.Load(sample.Jpg, "test");
            var plain = Transform.Apply(pixels, flip: false);
            using var enc = tensor(im.Pixels.Encoder, [3, 16, 16]);
            using var dec = tensor(im.Pixels.Decoder, [3, 24, 24]);
            using var encPlain = tensor(plain.Encoder, [3, 16, 16]);
            using var decPlain = tensor(plain.Decoder, [3, 24, 24]);
            using var encExpected = im.Ref.Flip ? encPlain.flip(-1) : encPlain.alias();
            using var decExpected = im.Ref.Flip ? decPlain.flip(-1) : decPlain.alias();
            Assert.True(enc.equal(encExpected).all().item<bool>());
            Assert.True(dec.equal(decExpected).all().item<bool>());
        }
        Assert.Equal(2, flips.Count);
    }
}
