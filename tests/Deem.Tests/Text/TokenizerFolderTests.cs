using Deem.World;
using Deem.Config;
using Deem.Inference;
using Deem.Model;
using Deem.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Text;

/// <summary>
/// A model folder records its tokenizer's kind; a world model and a model with the LLaMA / Vicuna
/// tokenizer save, load and answer through the same code path.
/// </summary>
public class TokenizerFolderTests
{
    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "deem-tok-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static TheoryData<string> Kinds => new() { "wordpiece", "llama" };

    static ITextTokenizer Tokenizer(string kind) => kind == "wordpiece" ? WorldTokenizer.Default : LlamaVocabulary.FromModel;

    [Theory]
    [MemberData(nameof(Kinds))]
    public void FolderRecordsTheKindAndLoadsTheSameTokenizer(string kind)
    {
        var tok = Tokenizer(kind);
        var dir = TempDir();
        try
        {
            TokenizerFiles.Save(dir, tok);
            Assert.Contains($"\"kind\": \"{kind}\"", File.ReadAllText(Path.Combine(dir, TokenizerFiles.ConfigFile)));
            Assert.True(File.Exists(Path.Combine(dir, tok.FileName)));
            var back = TokenizerFiles.Load(dir);
            Assert.Equal(kind, back.Kind);
            Assert.Equal(tok.Specials, back.Specials);
            const string text = "You are a helpful assistant.\n\n ## USER: <|startofimage|><|sniffer|> What is the red thing? \n ## ASSISTANT: a key</s>";
            Assert.Equal(tok.Encode(text, addBos: true), back.Encode(text, addBos: true));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AHuggingFaceFolderWithoutAKindIsReadByItsFiles()
    {
        var dir = TempDir();
        try
        {
            File.Copy(LlamaVocabulary.JsonPath, Path.Combine(dir, TokenizerFiles.HfJsonFile));
            File.WriteAllText(Path.Combine(dir, TokenizerFiles.ConfigFile), "{\"tokenizer_class\": \"LlamaTokenizer\", \"legacy\": true}");
            var tok = TokenizerFiles.Load(dir);
            Assert.Equal("llama", tok.Kind);
            Assert.Equal([1, 15043, 3186], tok.Encode("Hello world", addBos: true));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AnUnknownKindIsAnErrorNamingTheField()
    {
        var dir = TempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, TokenizerFiles.ConfigFile), "{\"kind\": \"gpt2\"}");
            var e = Assert.Throws<DeemConfigException>(() => TokenizerFiles.Load(dir));
            Assert.Equal("kind", e.Field);
            Assert.Contains("gpt2", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ModelSavesLoadsAndAnswersTheSameThroughOneCodePath(string kind)
    {
        var tok = Tokenizer(kind);
        var config = DeemConfig.TinyFor(tok.Specials) with { BuildDiffusion = false };
        var dir = TempDir();
        try
        {
            var model = new Deem.Model.DeemModel(config, new Generator(7));
            model.eval();
            DeemCheckpoint.Save(dir, model, tok);
            using var saved = new DeemPipeline(model, tok);   // owns the model
            using var loaded = DeemPipeline.Load(dir);
            loaded.Model.eval();
            Assert.Equal(kind, loaded.Codec.Tokenizer.Kind);
            var picture = rand(new long[] { 3, 32, 32 }, generator: new Generator(3));
            const string question = "What is the red thing?";
            var prompt = loaded.BuildPrompt(PromptTemplates.VqaEval(question, config.ImageTokens), [picture]);
            Assert.Equal(saved.BuildPrompt(PromptTemplates.VqaEval(question, config.ImageTokens), [picture]).Ids, prompt.Ids);
            Assert.Equal(config.ImageTokens, prompt.Ids.Count(i => i == tok.Specials.Image));
            var options = GenerationOptions.Greedy(4);
            Assert.Equal(saved.Ask([picture], question, options), loaded.Ask([picture], question, options));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

public class TokenizationTests
{
    [Fact]
    public void PromptCodecEncodesAsTheSlowTokenizerDoes()
    {
        var tok = LlamaVocabulary.FromModel;
        var codec = new PromptCodec(tok, tok.Specials, imageTokens: 4);
        const string prompt = "You are a helpful assistant.\n\n ## USER: Based on the image, please answer the question. <|startofimage|><|sniffer|> What is it? \n ## ASSISTANT: The answer is";
        var expected = tok.Encode(prompt.Replace("<|sniffer|>", string.Concat(Enumerable.Repeat("<|sniffer|>", 4))), addBos: true);
        Assert.Equal(expected.Select(i => (long)i), codec.Encode(prompt));
        Assert.Equal("What is it?", codec.Decode(tok.Encode("What is it?<|sniffer|></s>").Select(i => (long)i)));
    }

    [Fact]
    public void TokenizeReportsIdsPiecesAndTheRoundTrip()
    {
        var r = Tokenization.Run(null, LlamaVocabulary.ModelPath, "Hello world", addBos: true);
        Assert.Equal(("llama", 32006), (r.Kind, r.VocabSize));
        Assert.Equal([1, 15043, 3186], r.Ids);
        Assert.Equal(["<s>", "▁Hello", "▁world"], r.Pieces);
        Assert.True(r.RoundTrips);
        Assert.False(Tokenization.Run(null, LlamaVocabulary.JsonPath, "a <|sniffer|> b", addBos: false).RoundTrips);
    }

    [Fact]
    public void TokenizeNeedsExactlyOneSource()
    {
        Assert.Throws<DeemConfigException>(() => Tokenization.Run(null, null, "x", addBos: true));
        Assert.Throws<DeemConfigException>(() => Tokenization.Run("a", "b", "x", addBos: true));
        Assert.Throws<DeemFormatException>(() => Tokenization.Run(null, "missing.model", "x", addBos: true));
    }
}
