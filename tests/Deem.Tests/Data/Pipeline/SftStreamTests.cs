using Deem.Config;
using Deem.Data.Formats;
using Deem.Data.Pipeline;
using Deem.Language;
using Deem.Text;

namespace Deem.Tests.Data.Pipeline;

[Collection("pipeline world")]
public class SftStreamTests(PipelineWorld world)
{
    static readonly WordPieceTextTokenizer Tok = PipelineWorld.Tok;

    [Fact]
    public void TheTinyRecipeTrainsOnTheInstructionItemsAloneAndCaptionQaAddsTheCaptionShards()
    {
        var tiny = PipelineWorld.Stage(2);
        Assert.False(tiny.CaptionQa);                                    // the tiny SFT recipe: instruction items only
        Assert.True(StageConfig.Load("paper-7b", "stage2").CaptionQa);   // the authors' mix keeps caption-as-QA
        using var alone = new SftStream(world.Paths, tiny, Tok, PipelineWorld.ImageTokens, new SkipCounter(strict: true));
        using var mixed = new SftStream(world.Paths, tiny with { CaptionQa = true }, Tok, PipelineWorld.ImageTokens, new SkipCounter(strict: true));
        Assert.All(alone.Items, i => Assert.Equal(SftStream.LlavaSource, i.Source));
        int captions = mixed.Items.Count(i => i.Source == SftStream.CaptionQaSource);
        Assert.True(captions > 0);
        Assert.Equal(alone.Items.Count + captions, mixed.Items.Count);
        Assert.Equal(alone.Items, mixed.Items.Where(i => i.Source == SftStream.LlavaSource));
    }

    [Fact]
    public void PromptOffsetsPointAtTheAnswersFirstToken()
    {
        var cfg = PipelineWorld.Stage(2) with { CaptionQa = true };
        using var stream = new SftStream(world.Paths, cfg, Tok, PipelineWorld.ImageTokens, new SkipCounter(strict: true));
        Assert.Contains(stream.Items, i => i.Source == SftStream.CaptionQaSource);
        Assert.Contains(stream.Items, i => i.Source == SftStream.LlavaSource);
        Assert.DoesNotContain(stream.Items, i => i.Question.Contains("<image>"));
        var sp = Tok.Specials;
        for (int n = 0; n < 4; n++)
        {
            using var batch = stream.Next();
            Assert.Equal(0.0, batch.NipWeight);
            Assert.Equal(batch.BatchSize, batch.ImageCount);
            Assert.All(batch.ImagesPerSequence, c => Assert.Equal(1, c));
            var L = (int)batch.Length;
            var ids = batch.Ids.data<long>().ToArray();
            var mask = batch.AttentionMask.data<long>().ToArray();
            for (int b = 0; b < batch.BatchSize; b++)
            {
                int len = (int)mask.Skip(b * L).Take(L).Sum();
                var row = ids.Skip(b * L).Take(len).Select(i => (int)i).ToArray();
                int offset = (int)batch.PromptOffsets![b];
                string prompt = Tok.Decode(row[..offset]);
                Assert.EndsWith("## ASSISTANT: The answer is", prompt);
                Assert.StartsWith("<s>", prompt);
                Assert.Equal(row[..offset], Tok.Encode(prompt));
                string answer = Tok.Decode(row[offset..]);
                Assert.EndsWith("</s>", answer);
                var expected = Tok.Encode(answer[..^4]);
                Assert.Equal(expected[0], row[offset]);
                Assert.Equal(PipelineWorld.ImageTokens, row.Count(i => i == sp.Image));
            }
            // The NTP labels start exactly at the answer.
            using var labels = NextTokenLoss.Labels(batch.Ids, batch.AttentionMask, sp, batch.PromptOffsets);
            var lab = labels.data<long>().ToArray();
            for (int b = 0; b < batch.BatchSize; b++)
            {
                int first = Enumerable.Range(0, L - 1).First(j => lab[b * (L - 1) + j] != NextTokenLoss.IgnoreIndex);
                Assert.Equal(batch.PromptOffsets![b] - 1, first);
            }
        }
    }

    [Fact]
    public void SftResumeContinuesExactly()
    {
        var cfg = PipelineWorld.Stage(2) with { BatchSize = 3, CaptionQa = true };
        using var a = new SftStream(world.Paths, cfg, Tok, PipelineWorld.ImageTokens, new SkipCounter(strict: true));
        for (int n = 0; n < 5; n++) a.Next().Dispose(); // past an epoch (3 × 3 + 10 items)
        var pos = DataPosition.Parse(a.Position.ToJson(), "test");
        using var b = new SftStream(world.Paths, cfg, Tok, PipelineWorld.ImageTokens, new SkipCounter(strict: true), pos);
        for (int n = 0; n < 3; n++)
        {
            using var x = a.Next();
            using var y = b.Next();
            Assert.Equal(x.Ids.data<long>().ToArray(), y.Ids.data<long>().ToArray());
            Assert.True(x.ImagesEnc.equal(y.ImagesEnc).all().item<bool>());
            Assert.Equal(x.PromptOffsets, y.PromptOffsets);
        }
    }

    [Fact]
    public void MaskSamplesHaveOneImageAndMaskPerBlockAndLearnOnlyAnswers()
    {
        var cfg = PipelineWorld.Stage(3) with { MaxImagesPerSequence = 4, MaxLength = 400 };
        using var stream = new MaskSftStream(world.Paths, cfg, Tok, PipelineWorld.ImageTokens, new SkipCounter(strict: true));
        var sp = Tok.Specials;
        for (int n = 0; n < 3; n++)
        {
            using var batch = stream.Next();
            var L = (int)batch.Length;
            var ids = batch.Ids.data<long>().ToArray();
            var gt = batch.GtTextIds!.data<long>().ToArray();
            long sois = ids.Count(i => i == sp.Soi);
            Assert.Equal(sois, batch.ImageCount);
            Assert.Equal([sois, 1, cfg.EncoderResolution, cfg.EncoderResolution], batch.RegionMasks!.shape);
            Assert.Equal(0.0, batch.NipWeight);
            var masks = batch.RegionMasks.data<float>().ToArray();
            int px = cfg.EncoderResolution * cfg.EncoderResolution;
            int image = 0;
            for (int b = 0; b < batch.BatchSize; b++)
            {
                int count = (int)batch.ImagesPerSequence[b];
                Assert.InRange(count, 2, cfg.MaxImagesPerSequence);
                Assert.All(masks.Skip(image * px).Take(px), v => Assert.Equal(1f, v));  // whole image first
                for (int k = 1; k < count; k++)
                {
                    var m = masks.Skip((image + k) * px).Take(px).ToArray();
                    Assert.All(m, v => Assert.True(v is 0f or 1f));
                    Assert.Contains(1f, m);
                    Assert.Contains(0f, m);
                    Assert.True(batch.ImagesEnc[image + k].equal(batch.ImagesEnc[image]).all().item<bool>()); // same pixels repeated
                }
                image += count;
                // Learned tokens are exactly the answers (with their newline) and </s>.
                var row = ids.Skip(b * L).Take(L).Select(i => (int)i).ToArray();
                var learned = Enumerable.Range(0, L).Where(l => gt[b * L + l] != BatchCollator.Ignore).ToList();
                Assert.All(learned, l => Assert.Equal(row[l], gt[b * L + l]));
                string learnedText = Tok.Decode(learned.Select(l => row[l]));
                Assert.EndsWith("</s>", learnedText);
                Assert.DoesNotContain("user", learnedText);
                Assert.DoesNotContain("<|sniffer|>", learnedText);
                Assert.Equal(count - 1, learned.Count(l => row[l] == WordPieceTextTokenizer.NewlineId));
            }
        }
    }

    [Fact]
    public void MaskConversationTokensMatchTheTemplate()
    {
        var cfg = PipelineWorld.Stage(3);
        using var stream = new MaskSftStream(world.Paths, cfg, Tok, PipelineWorld.ImageTokens, new SkipCounter(strict: true));
        (string, string)[] turns = [(PromptTemplates.RegionQuestion, "a red heart pointing up"), (PromptTemplates.RegionQuestion, "two blue rings")];
        var (ids, targets) = stream.Conversation(turns);
        Assert.Equal(Tok.Encode(PromptTemplates.Region(turns, PipelineWorld.ImageTokens) + "</s>", addBos: true), ids);
        Assert.Equal(3, ids.Count(i => i == Tok.SoiId));
        var learned = ids.Where((_, i) => targets[i] != BatchCollator.Ignore).ToList();
        Assert.Equal(Tok.Encode(" a red heart pointing up\n two blue rings\n</s>"), learned);
    }
}
