using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Deem.Text;

/// <summary>
/// The LLaMA / Vicuna SentencePiece BPE tokenizer with DEEM's six new tokens (reference §1.5): the base
/// vocabulary (Vicuna: 32000 pieces, bos 1, eos 2) is read and decoded by Microsoft.ML.Tokenizers'
/// <see cref="LlamaTokenizer"/> and segmented by <see cref="SentencePieceBpe"/> (SentencePiece's own merge
/// order, which the library's encoder does not reproduce on runs of a repeated character); <c>&lt;|startofimage|&gt;</c>, <c>&lt;|sniffer|&gt;</c>, <c>&lt;ref&gt;</c>,
/// <c>&lt;/ref&gt;</c>, <c>&lt;box&gt;</c>, <c>&lt;/box&gt;</c> follow at base … base+5 (32000–32005) and the
/// pad id is forced to base − 1 (31999), a real piece, as DEEM does.
/// <para>
/// Special tokens follow the slow (legacy) transformers tokenizer DEEM uses: the text is split at every
/// special-token string; the six new tokens (added as plain strings) strip all whitespace on both sides,
/// while <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c> and <c>&lt;unk&gt;</c> (added tokens without lstrip/rstrip) strip
/// none; each non-empty chunk is SentencePiece-encoded on its own, so each gets its own leading "▁".
/// Decoding joins SentencePiece runs and special tokens as the slow tokenizer does (a space before a
/// special token that follows text).
/// </para>
/// </summary>
public sealed class LlamaTextTokenizer : ITextTokenizer
{
    /// <summary>The file name in a model folder.</summary>
    public const string ModelFile = "tokenizer.model";

    readonly LlamaTokenizer _sp;
    readonly SentencePieceBpe _bpe;
    readonly byte[] _modelProto;
    readonly string[] _pieces;
    readonly Dictionary<string, int> _specialIds;
    readonly HashSet<string> _stripped;
    readonly Regex _split;

    LlamaTextTokenizer(byte[] modelProto, string source)
    {
        _modelProto = modelProto;
        try
        {
            using var stream = new MemoryStream(modelProto, writable: false);
            _sp = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not DeemException)
        {
            throw new DeemFormatException(source, $"not a SentencePiece model: {e.Message}", inner: e);
        }
        _bpe = SentencePieceModel.Read(modelProto, source).Bpe;
        int n = _sp.Vocabulary.Count;
        _pieces = new string[n];
        foreach (var (piece, id) in _sp.Vocabulary)
        {
            if (id < 0 || id >= n) throw new DeemFormatException(source, $"piece id {id} outside 0…{n - 1}", piece);
            _pieces[id] = piece;
        }
        Specials = new SpecialTokens(Bos: _sp.BeginningOfSentenceId, Eos: _sp.EndOfSentenceId, Pad: n - 1, BaseVocabSize: n);
        _specialIds = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            [_sp.UnknownToken] = _sp.UnknownId, [_sp.BeginningOfSentenceToken] = Specials.Bos, [_sp.EndOfSentenceToken] = Specials.Eos,
        };
        for (int k = 0; k < SpecialTokens.NewTokenCount; k++) _specialIds[SpecialTokens.NewTokenTexts[k]] = n + k;
        _stripped = new HashSet<string>(SpecialTokens.NewTokenTexts, StringComparer.Ordinal);
        // Longest first, so "</ref>" is not read as "<ref>"-less text.
        _split = new Regex(string.Join("|", _specialIds.Keys.OrderByDescending(s => s.Length).Select(Regex.Escape)), RegexOptions.CultureInvariant);
    }

    /// <summary>From a SentencePiece <c>tokenizer.model</c> (LLaMA / Vicuna).</summary>
    public static LlamaTextTokenizer FromModelFile(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "tokenizer model not found");
        return new LlamaTextTokenizer(File.ReadAllBytes(path), path);
    }

    /// <summary>From a Hugging Face <c>tokenizer.json</c> of the same vocabulary (BPE with byte fallback).</summary>
    public static LlamaTextTokenizer FromHfJson(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "tokenizer.json not found");
        return new LlamaTextTokenizer(SentencePieceModel.Write(SentencePieceModel.PiecesFromHfJson(path)), path);
    }

    public string Kind => "llama";

    public string FileName => ModelFile;

    public SpecialTokens Specials { get; }

    public int VocabSize => Specials.VocabSize;

    /// <summary>Writes the SentencePiece model (as read, or as written from a tokenizer.json).</summary>
    public void Save(string path) => Deem.IO.AtomicFile.WriteAllBytes(path, _modelProto);

    public string IdToToken(int id) =>
        id >= 0 && id < _pieces.Length ? _pieces[id]
        : id >= _pieces.Length && id < VocabSize ? SpecialTokens.NewTokenTexts[id - _pieces.Length]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"vocabulary has {VocabSize} tokens");

    public IReadOnlyList<int> Encode(string text, bool addBos = false, bool addEos = false)
    {
        // Chunks between special tokens; a new token strips the whitespace next to it (Python str.strip).
        var parts = new List<(string Text, int Special)>();
        int pos = 0;
        foreach (Match m in _split.Matches(text))
        {
            parts.Add((text[pos..m.Index], -1));
            parts.Add((m.Value, _specialIds[m.Value]));
            pos = m.Index + m.Length;
        }
        parts.Add((text[pos..], -1));
        for (int i = 1; i < parts.Count; i += 2)
        {
            if (!_stripped.Contains(parts[i].Text)) continue;
            parts[i - 1] = (parts[i - 1].Text.TrimEnd(), -1);
            parts[i + 1] = (parts[i + 1].Text.TrimStart(), -1);
        }
        var ids = new List<int>();
        if (addBos) ids.Add(Specials.Bos);
        foreach (var (chunk, special) in parts)
        {
            if (special >= 0) ids.Add(special);
            else if (chunk.Length > 0) _bpe.Encode(chunk, ids);
        }
        if (addEos) ids.Add(Specials.Eos);
        return ids;
    }

    bool IsSpecial(int id) => id >= _pieces.Length || _specialIds.ContainsValue(id);

    public string Decode(IEnumerable<int> ids, bool skipSpecial = false)
    {
        var sb = new StringBuilder();
        var run = new List<int>();
        bool prevSpecial = false, first = true;
        foreach (int id in ids)
        {
            string token = IdToToken(id);
            if (IsSpecial(id))
            {
                if (skipSpecial) continue;
                if (!prevSpecial && !first) sb.Append(' ');
                sb.Append(DecodeRun(run)).Append(token);
                run.Clear();
                prevSpecial = true;
            }
            else
            {
                run.Add(id);
                prevSpecial = false;
            }
            first = false;
        }
        return sb.Append(DecodeRun(run)).ToString();
    }

    string DecodeRun(List<int> run) => run.Count == 0 ? "" : _sp.Decode(run, considerSpecialTokens: false);
}
