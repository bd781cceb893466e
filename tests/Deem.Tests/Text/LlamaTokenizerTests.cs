using Deem.Text;

namespace Deem.Tests.Text;

/// <summary>
/// The LLaMA tokenizer on the real LLaMA-2 / Vicuna vocabulary, from both file kinds, against published
/// ids: llama.cpp's <c>tests/test-tokenizer-0-llama.cpp</c> (generated with SentencePiece from the LLaMA
/// <c>tokenizer.model</c>; no BOS), llama-tokenizer-js's own test cases and transformers' LLaMA tests
/// ("Hello world" → 1, 15043, 3186 with BOS).
/// </summary>
public class LlamaTokenizerTests
{
    public static TheoryData<string, int[]> Published => new()
    {
        { "", [] },
        { " ", [259] },
        { "  ", [1678] },
        { "   ", [268] },
        { "\t", [29871, 12] },
        { "\n", [29871, 13] },
        { "\t\n", [29871, 12, 13] },
        { "Hello world", [15043, 3186] },
        { " Hello world", [29871, 15043, 3186] },
        { "Hello World", [15043, 2787] },
        { " Hello World!", [29871, 15043, 2787, 29991] },
        { "Hello, world!", [15043, 29892, 3186, 29991] },
        { " this is 🦙.cpp", [29871, 445, 338, 29871, 243, 162, 169, 156, 29889, 8223] },
        { "w048 7tuijk dsdfhu", [281, 29900, 29946, 29947, 29871, 29955, 9161, 13535, 18031, 2176, 6905] },
        { "нещо на Български", [1538, 4851, 665, 1386, 29713, 1305] },
        { "កាន់តែពិសេសអាចខលចេញ", [29871, 31849, 31324, 31934, 228, 162, 142, 228, 161, 146, 228, 162, 133, 228, 161, 153, 228, 161, 186,
            31708, 228, 162, 132, 31708, 228, 161, 165, 31324, 228, 161, 136, 228, 161, 132, 228, 161, 158, 228, 161, 136, 228, 162, 132, 228, 161, 140] },
        { "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)", [29871, 243, 162, 157, 131, 313, 8945, 29897,
            29871, 243, 162, 155, 185, 30722, 243, 162, 143, 174, 30598, 313, 20787, 953, 3848, 275, 16125, 630, 29897, 29871, 31681, 313, 6194,
            953, 29877, 2397, 393, 756, 967, 1914, 5993, 29897] },
        { "   Hello", [1678, 15043] },
        { "    Hello\n    Hello", [268, 15043, 13, 1678, 15043] },
        { " (", [29871, 313] },
        { "grabbed", [2646, 1327, 287] },
        { "           grabbed", [9651, 2646, 1327, 287] },
        { " \n", [259, 13] },
        { "\ttabs\t\t\t\tout here", [29871, 12, 21175, 12, 12, 12, 12, 449, 1244] },
        { "ax\n####\nboo", [4853, 13, 4136, 13, 833, 29877] },
        { "镇", [29871, 30411] },
        { "🦙Ꙋ", [29871, 243, 162, 169, 156, 237, 156, 141] },
    };

    /// <summary>Runs of one character, where merges tie: ids from SentencePiece itself (Debian python3-sentencepiece
    /// 0.1.97, <c>SentencePieceProcessor.encode</c>) on this vocabulary's model file.</summary>
    public static TheoryData<string, int[]> SentencePieceTies => new()
    {
        { "aaaa", [263, 7340, 29874] },
        { "aaaaaaa", [263, 27137, 7340] },
        { "----------", [448, 1378, 29899] },
        { "!!!!!!!!!!", [1738, 6824, 6824, 6824, 21004] },
        { "                    y", [462, 268, 343] },
        { "mmmmmmmm hmmmmm", [286, 4317, 4317, 4317, 29885, 298, 4317, 4317, 29885] },
    };

    [Theory]
    [MemberData(nameof(SentencePieceTies))]
    public void TiedMergesGoLeftmostFirstAsInSentencePiece(string text, int[] expected)
    {
        Assert.Equal(expected, LlamaVocabulary.FromModel.Encode(text));
        Assert.Equal(expected, LlamaVocabulary.FromJson.Encode(text));
        Assert.Equal(text, LlamaVocabulary.FromModel.Decode(expected));
    }

    [Theory]
    [MemberData(nameof(Published))]
    public void JsonVocabularyGivesThePublishedIds(string text, int[] expected) =>
        Assert.Equal(expected, LlamaVocabulary.FromJson.Encode(text));

    [Theory]
    [MemberData(nameof(Published))]
    public void ModelFileGivesThePublishedIds(string text, int[] expected) =>
        Assert.Equal(expected, LlamaVocabulary.FromModel.Encode(text));

    [Theory]
    [MemberData(nameof(Published))]
    public void PlainTextRoundTrips(string text, int[] expected)
    {
        _ = expected;
        var tok = LlamaVocabulary.FromModel;
        // SentencePiece drops the dummy-prefix space on decode, so a leading space does not come back.
        if (text.StartsWith(' ')) return;
        Assert.Equal(text, tok.Decode(tok.Encode(text)));
    }

    [Fact]
    public void BosAndTheSpecialIdsAreDeems()
    {
        var tok = LlamaVocabulary.FromJson;
        Assert.Equal([1, 15043, 3186], tok.Encode("Hello world", addBos: true));
        Assert.Equal([1, 15043, 3186, 2], tok.Encode("Hello world", addBos: true, addEos: true));
        Assert.Equal(SpecialTokens.Paper, tok.Specials);
        Assert.Equal(32006, tok.VocabSize);
        Assert.Equal("<|startofimage|>", tok.IdToToken(32000));
        Assert.Equal("</box>", tok.IdToToken(32005));
        Assert.Equal("▁Hello", tok.IdToToken(15043));
        Assert.Equal("<0x0A>", tok.IdToToken(13));
    }

    [Fact]
    public void NewTokensStripTheWhitespaceBesideThemAndEachChunkGetsItsOwnPrefix()
    {
        var tok = LlamaVocabulary.FromModel;
        // The slow tokenizer: "world" after the image block is encoded as a chunk of its own, with "▁".
        Assert.Equal([15043, 32000, 32001, 32001, 3186], tok.Encode("Hello <|startofimage|><|sniffer|> <|sniffer|>\n world"));
        Assert.Equal(tok.Encode("Hello") .Concat([32000, 32001]).Concat(tok.Encode("world")), tok.Encode("Hello<|startofimage|><|sniffer|>world"));
        Assert.Equal([32004, 32005], tok.Encode(" <box> </box> "));
        Assert.Equal([32002, 32003], tok.Encode("<ref></ref>"));
    }

    [Fact]
    public void BaseSpecialsSplitButKeepTheirWhitespace()
    {
        var tok = LlamaVocabulary.FromModel;
        // "</s>" is one id; the text before it keeps its trailing space (a chunk " answer " of its own).
        Assert.Equal(tok.Encode("answer ").Concat([2]), tok.Encode("answer </s>"));
        Assert.Equal([1, 2], tok.Encode("<s></s>"));
    }

    [Fact]
    public void DecodeWritesSpecialsAsTheSlowTokenizerDoes()
    {
        var tok = LlamaVocabulary.FromModel;
        var ids = tok.Encode("Hello world<|startofimage|><|sniffer|>Bye", addBos: true, addEos: true);
        // transformers' convert_tokens_to_string: a space before the text run that a special token closes.
        Assert.Equal("<s> Hello world<|startofimage|><|sniffer|> Bye</s>", tok.Decode(ids));
        Assert.Equal("Hello world Bye", tok.Decode(ids, skipSpecial: true));   // "Bye" was its own chunk: "▁Bye"
    }

    [Fact]
    public void BothFileKindsAgreeOnAWholeDocument()
    {
        string doc = "You are a helpful assistant.\n\n ## USER: Based on the image, please answer the question. <|startofimage|>"
            + string.Concat(Enumerable.Repeat("<|sniffer|>", 77)) + "What is in the image? \n ## ASSISTANT: The answer is a 猫 🐈 on a mat.</s>";
        var a = LlamaVocabulary.FromJson.Encode(doc, addBos: true);
        Assert.Equal(a, LlamaVocabulary.FromModel.Encode(doc, addBos: true));
        Assert.Equal(77, a.Count(i => i == 32001));
        Assert.DoesNotContain(0, a);                     // no <unk>: byte fallback covers every character
    }

    [Fact]
    public void BadTokenizerFilesAreErrorsNamingTheFile()
    {
        var dir = Path.Combine(Path.GetTempPath(), "deem-badtok-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var model = Path.Combine(dir, "tokenizer.model");
            File.WriteAllBytes(model, [0x0A, 0xFF, 0xFF, 0x01]);
            Assert.Contains(model, Assert.Throws<DeemFormatException>(() => LlamaTextTokenizer.FromModelFile(model)).Message);
            var json = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(json, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
            var e = Assert.Throws<DeemFormatException>(() => TokenizerFiles.LoadFile(json));
            Assert.Equal("model.type", e.Key);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
