namespace Deem.Text;

/// <summary>What <c>deem tokenize</c> shows for one text.</summary>
/// <param name="Kind">The tokenizer's kind ("wordpiece" or "llama").</param>
/// <param name="Source">The model folder or tokenizer file read.</param>
/// <param name="Ids">The ids of the text, BOS first when asked.</param>
/// <param name="Pieces">The token text of each id.</param>
/// <param name="Decoded">The ids decoded back to text.</param>
/// <param name="VocabSize">Ids in the vocabulary, the six new tokens included.</param>
/// <param name="RoundTrips">Whether the ids without BOS decode back to exactly the text.</param>
public sealed record Tokenization(string Kind, string Source, IReadOnlyList<int> Ids, IReadOnlyList<string> Pieces, string Decoded, int VocabSize, bool RoundTrips)
{
    /// <summary>Tokenizes <paramref name="text"/> with the tokenizer of a model folder or of a tokenizer file
    /// (exactly one of <paramref name="modelDir"/> and <paramref name="tokenizerFile"/>).</summary>
    /// <param name="modelDir">A DEEM model folder or a Hugging Face LLaMA / Vicuna folder.</param>
    /// <param name="tokenizerFile">A <c>tokenizer.model</c>, <c>tokenizer.json</c> or <c>tokenizer.vocab</c>.</param>
    /// <param name="text">The text.</param>
    /// <param name="addBos">Whether BOS goes first.</param>
    public static Tokenization Run(string? modelDir, string? tokenizerFile, string text, bool addBos)
    {
        if ((modelDir is null) == (tokenizerFile is null))
            throw new DeemConfigException("deem tokenize", "--model/--tokenizer", "give exactly one of --model DIR and --tokenizer FILE");
        string source = modelDir ?? tokenizerFile!;
        var tok = modelDir is not null
            ? Directory.Exists(modelDir) ? TokenizerFiles.Load(modelDir) : throw new DeemFormatException(modelDir, "model folder not found")
            : TokenizerFiles.LoadFile(tokenizerFile!);
        var ids = tok.Encode(text, addBos);
        return new Tokenization(tok.Kind, source, ids, ids.Select(tok.IdToToken).ToList(), tok.Decode(ids, skipSpecial: false), tok.VocabSize,
            tok.Decode(tok.Encode(text)) == text);
    }
}
