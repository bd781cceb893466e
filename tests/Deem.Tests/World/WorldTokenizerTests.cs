using Deem.Tests.Data;
using Deem.World;
using Deem.Text;

namespace Deem.Tests.World;

public class WorldTokenizerTests
{
    static readonly WordPieceTextTokenizer Tok = WorldTokenizer.Create();

    [Fact]
    public void SpecialTokensHaveFixedIds()
    {
        Assert.Equal(0, Tok.TokenToId("<unk>"));
        Assert.Equal(1, Tok.TokenToId("<s>"));
        Assert.Equal(2, Tok.TokenToId("</s>"));
        Assert.Equal(3, Tok.TokenToId("<pad>"));
        Assert.Equal(4, Tok.TokenToId("<0x0A>"));
        // The six new tokens close the vocabulary, in the model's SpecialTokens order.
        var sp = Tok.Specials;
        Assert.Equal(Tok.VocabSize, sp.VocabSize);
        Assert.Equal(Tok.VocabSize - 6, sp.BaseVocabSize);
        Assert.Equal((1, 2, 3), (sp.Bos, sp.Eos, sp.Pad));
        Assert.Equal(sp.Soi, Tok.TokenToId("<|startofimage|>"));
        Assert.Equal(sp.Image, Tok.TokenToId("<|sniffer|>"));
        Assert.Equal(sp.RefStart, Tok.TokenToId("<ref>"));
        Assert.Equal(sp.RefEnd, Tok.TokenToId("</ref>"));
        Assert.Equal(sp.BoxStart, Tok.TokenToId("<box>"));
        Assert.Equal(sp.BoxEnd, Tok.TokenToId("</box>"));
        Assert.Equal(Tok.VocabSize - 1, sp.BoxEnd);
        Assert.Equal([1, sp.Soi, sp.Image, 2], Tok.Encode("<s><|startofimage|><|sniffer|></s>"));
        Assert.Equal([sp.BoxStart, sp.BoxEnd], Tok.Encode(" <box> </box>"));
        Assert.Equal([1, 2], Tok.Encode("", addBos: true, addEos: true));
        ITextTokenizer it = Tok;
        Assert.Equal(Tok.Encode("two red keys", addBos: true), it.Encode("two red keys", addBos: true));
    }

    [Fact]
    public void ImageBlockHasTheRightNumberOfPlaceholdersAndNoSpaces()
    {
        foreach (int n in new[] { 1, 4, 77 })
        {
            var ids = Tok.Encode("a red arrow " + SpecialTokens.ImageBlock(n) + " two blue rings.");
            int soi = ids.IndexOf(Tok.SoiId);
            Assert.Equal(1, ids.Count(i => i == Tok.SoiId));
            Assert.Equal(n, ids.Count(i => i == Tok.ImagePlaceholderId));
            Assert.All(Enumerable.Range(soi + 1, n), k => Assert.Equal(Tok.ImagePlaceholderId, ids[k]));
            Assert.Equal(Tok.TokenToId("two"), ids[soi + n + 1]);
            Assert.Equal("a red arrow" + SpecialTokens.ImageBlock(n) + "two blue rings.", Tok.Decode(ids));
        }
    }

    [Fact]
    public void EveryGeneratedWordIsOneToken()
    {
        foreach (var w in WorldVocabulary.AllWords().SelectMany(w => w.Split(' ', '-')).Where(w => w.Length > 1))
            Assert.True(Tok.TokenToId(w) is not null, $"'{w}' is not a whole token");
        Assert.Single(Tok.Encode("crescent"));
        Assert.True(3 == Tok.Encode("l-shapes").Count, string.Join(" ", Tok.Encode("l-shapes").Select(Tok.IdToToken)));
    }

    [Fact]
    public void GeneratedTextRoundTripsWithoutUnknowns()
    {
        var plan = WorldPlan.Build(WorldOptions.Tiny with { Seed = 3 });
        var texts = plan.Captions.Concat(plan.Vqa).SelectMany(p => new[] { SceneText.ShortCaption(p.Scene), SceneText.DetailedCaption(p.Scene) })
            .Concat(plan.Vqa.SelectMany(p => p.Questions.SelectMany(q => new[] { q.Question, q.Answer })))
            .Concat(plan.Stories.SelectMany(s => s.Story.Sentences))
            .Concat(plan.Regions.SelectMany(p => p.Scene.Objects.Select(SceneText.Region)));
        foreach (var t in texts)
        {
            var ids = Tok.Encode(t);
            Assert.DoesNotContain(WordPieceTextTokenizer.UnkId, ids);
            Assert.Equal(t, Tok.Decode(ids));
        }
    }

    [Fact]
    public void TemplatesRoundTripAtTheIdLevel()
    {
        foreach (var t in PromptTemplates.AllText().Append(PromptTemplates.VqaEval("what colour is the key?", 5)))
        {
            var ids = Tok.Encode(t, addBos: true);
            Assert.DoesNotContain(WordPieceTextTokenizer.UnkId, ids);
            Assert.Equal(ids, Tok.Encode(Tok.Decode(ids)));
        }
        // Newlines are tokens; unseen ASCII words fall back to characters, not <unk>.
        Assert.Contains(WordPieceTextTokenizer.NewlineId, Tok.Encode("a\nb"));
        var zebra = Tok.Encode("zebra");
        Assert.True(zebra.Count > 1);
        Assert.Equal("zebra", Tok.Decode(zebra));
        Assert.Equal([WordPieceTextTokenizer.UnkId], Tok.Encode("日本"));
    }

    [Fact]
    public void TemplatesFollowTheReferenceLayout()
    {
        string vqa = PromptTemplates.VqaTrain("how many keys are there?", 3);
        Assert.Equal("You are a helpful assistant.\n\n ## USER: Based on the image, please answer the question. <|startofimage|><|sniffer|><|sniffer|><|sniffer|>how many keys are there?\n ## ASSISTANT:  The answer is", vqa);
        Assert.EndsWith(" two</s>", PromptTemplates.WithAnswer(vqa, "two"));
        Assert.Contains("Please anwser yes or no \n ## ASSISTANT: The answer is", PromptTemplates.YesNoEval(PromptTemplates.RobustVqaQuestion("heart"), 2));
        string region = PromptTemplates.Region([(PromptTemplates.RegionQuestion, "a red heart pointing up")], 2);
        Assert.Equal(2, region.Split("<|startofimage|>").Length - 1); // whole image + one region
        Assert.Contains("## asistant: a red heart pointing up\n", region);
        var ids = Tok.Encode(PromptTemplates.CaptionEval(77));
        Assert.Equal(77, ids.Count(i => i == Tok.ImagePlaceholderId));
    }

    [Fact]
    public void SavedVocabularyLoadsToTheSameTokenizer()
    {
        using var d = new TempDir();
        Tok.Save(d["vocab.txt"]);
        var back = WordPieceTextTokenizer.Load(d["vocab.txt"]);
        Assert.Equal(Tok.VocabSize, back.VocabSize);
        string s = "two red arrows pointing left and a small blue ring" + SpecialTokens.ImageBlock(2);
        Assert.Equal(Tok.Encode(s), back.Encode(s));
        Assert.Equal(Tok.Specials, back.Specials);
        File.WriteAllLines(d["bad.txt"], ["<s>", "<unk>"]);
        var e = Assert.Throws<DeemFormatException>(() => WordPieceTextTokenizer.Load(d["bad.txt"]));
        Assert.Contains("line 1", e.Message);
        // The new tokens must be the last six lines.
        var lines = File.ReadAllLines(d["vocab.txt"]).ToList();
        (lines[^1], lines[^2]) = (lines[^2], lines[^1]);
        File.WriteAllLines(d["swapped.txt"], lines);
        var e2 = Assert.Throws<DeemFormatException>(() => WordPieceTextTokenizer.Load(d["swapped.txt"]));
        Assert.Contains($"line {lines.Count - 1}", e2.Message);
    }
}
