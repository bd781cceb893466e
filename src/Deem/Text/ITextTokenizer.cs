namespace Deem.Text;

/// <summary>
/// What the data pipeline and the generators need from a tokenizer (reference §1.5, §5): text to ids
/// with an optional leading BOS and trailing EOS, ids back to text, the vocabulary size and the
/// special ids. Special-token strings in the text (<c>&lt;|startofimage|&gt;</c>, <c>&lt;|sniffer|&gt;</c>,
/// <c>&lt;/s&gt;</c>, …) encode to their single ids with the whitespace around them stripped, as the
/// slow LLaMA tokenizer DEEM uses does. Implemented by <see cref="WordPieceTextTokenizer"/> (kind "wordpiece") and
/// <see cref="LlamaTextTokenizer"/> (kind "llama", the real Vicuna vocabulary); a model folder records
/// the kind beside the tokenizer file (<see cref="TokenizerFiles"/>).
/// </summary>
public interface ITextTokenizer
{
    /// <summary>Ids of <paramref name="text"/>, with BOS first and/or EOS last when asked.</summary>
    IReadOnlyList<int> Encode(string text, bool addBos = false, bool addEos = false);

    /// <summary>Text of <paramref name="ids"/>; <paramref name="skipSpecial"/> drops special tokens.</summary>
    string Decode(IEnumerable<int> ids, bool skipSpecial = false);

    /// <summary>Number of ids, the six new tokens included.</summary>
    int VocabSize { get; }

    /// <summary>bos, eos, pad and the new tokens' ids (at the end of the vocabulary).</summary>
    SpecialTokens Specials { get; }

    /// <summary>"wordpiece" or "llama": which loader reads <see cref="FileName"/> back.</summary>
    string Kind { get; }

    /// <summary>The tokenizer file's name in a model folder.</summary>
    string FileName { get; }

    /// <summary>The token text (piece) of one id.</summary>
    string IdToToken(int id);

    /// <summary>Writes the tokenizer file (atomically) so the <see cref="Kind"/>'s loader rebuilds the same tokenizer.</summary>
    void Save(string path);
}
