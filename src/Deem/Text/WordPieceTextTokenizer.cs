using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Deem.Text;

/// <summary>
/// A closed-vocabulary WordPiece tokenizer with DEEM's special tokens (reference §1.5): the tokenizer of
/// small models trained from scratch, such as those of the built-in world (whose vocabulary is every word
/// its generator and the prompt templates can emit).
/// The id layout follows DEEM's, which appends its six new tokens to Vicuna's 32000: base ids first —
/// 0–4 are <c>&lt;unk&gt;</c>, <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>, <c>&lt;pad&gt;</c> and a newline token,
/// then single characters (word-initial and "##" continuation, so any ASCII word still encodes
/// without <c>&lt;unk&gt;</c>), then every whole word the generator and the prompt templates can emit —
/// and the six new tokens last (<see cref="SpecialTokens.NewTokenTexts"/>: soi, image placeholder,
/// <c>&lt;ref&gt;</c>, <c>&lt;/ref&gt;</c>, <c>&lt;box&gt;</c>, <c>&lt;/box&gt;</c> at ids
/// BaseVocabSize … BaseVocabSize+5), so the text head's trainable new rows are exactly the last six.
/// <para>
/// Plain text goes through Microsoft.ML.Tokenizers' <see cref="WordPieceTokenizer"/> (split at
/// whitespace and at each punctuation mark, as BERT does; greedy longest-match WordPiece) over this generated vocabulary. Special tokens and
/// newlines are split out here first, because the library's whitespace pre-tokenizer would cut
/// "&lt;|sniffer|&gt;" into punctuation marks and drop "\n". As in the slow LLaMA tokenizer DEEM uses,
/// whitespace on both sides of a special token is stripped, so an image block is soi + N × placeholder
/// with no spaces around it. Decoding is done from the id table here (words joined by one space, none
/// before punctuation, after "(", around "-", between "#"s or before a "##" piece), which is the canonical text form.
/// </para>
/// </summary>
public sealed class WordPieceTextTokenizer : ITextTokenizer
{
    public const string Unk = "<unk>", Bos = "<s>", Eos = SpecialTokens.EosText, Pad = "<pad>";
    public const string Soi = SpecialTokens.SoiText, ImagePlaceholder = SpecialTokens.ImageText, Newline = "<0x0A>";
    /// <summary>Fixed ids at the start of the vocabulary; the new tokens' ids depend on its size (<see cref="Specials"/>).</summary>
    public const int UnkId = 0, BosId = 1, EosId = 2, PadId = 3, NewlineId = 4;

    static readonly string[] BaseSpecials = [Unk, Bos, Eos, Pad];
    static readonly string[] SplitTokens = [.. BaseSpecials, .. SpecialTokens.NewTokenTexts];
    const string Punctuation = ".,?!:;'\"-()[]{}#<>/|_*+=&%$@~`^\\";
    static readonly Regex SpecialSplit = new(
        string.Join("|", SplitTokens.Select(s => @"[ \t]*" + Regex.Escape(s) + @"[ \t]*")) + @"|[ \t]*\n[ \t]*", RegexOptions.CultureInvariant);
    static readonly Regex Words = new(@"\w+", RegexOptions.CultureInvariant);

    readonly WordPieceTokenizer _wordPiece;
    readonly string[] _tokens;
    readonly Dictionary<string, int> _specialIds;

    WordPieceTextTokenizer(IReadOnlyList<string> vocabulary)
    {
        _tokens = vocabulary.ToArray();
        var text = new StringBuilder();
        foreach (var t in _tokens) text.Append(t).Append('\n');
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text.ToString()));
        _wordPiece = WordPieceTokenizer.Create(stream, new WordPieceOptions
        {
            UnknownToken = Unk, ContinuingSubwordPrefix = "##", PreTokenizer = PreTokenizer.CreateWordOrPunctuation(null),
        });
        Specials = new SpecialTokens(Bos: BosId, Eos: EosId, Pad: PadId, BaseVocabSize: _tokens.Length - SpecialTokens.NewTokenCount);
        _specialIds = BaseSpecials.Select((s, i) => (s, i))
            .Concat(SpecialTokens.NewTokenTexts.Select((s, i) => (s, Specials.BaseVocabSize + i)))
            .ToDictionary(p => p.s, p => p.Item2, StringComparer.Ordinal);
        _specialIds["\n"] = NewlineId;
    }

    /// <summary>The vocabulary file name in a model folder.</summary>
    public const string VocabFile = "tokenizer.vocab";

    /// <summary>The kind recorded in <c>tokenizer_config.json</c> ("world" in folders written before the name changed).</summary>
    public string Kind => KindName;

    /// <summary>See <see cref="Kind"/>.</summary>
    public const string KindName = "wordpiece";

    public string FileName => VocabFile;

    /// <summary>bos/eos/pad and the new tokens' ids (soi = <see cref="SpecialTokens.Soi"/>, …) of this vocabulary.</summary>
    public SpecialTokens Specials { get; }

    /// <summary><c>&lt;|startofimage|&gt;</c>'s id (= <c>Specials.Soi</c>).</summary>
    public int SoiId => Specials.Soi;

    /// <summary><c>&lt;|sniffer|&gt;</c>'s id (= <c>Specials.Image</c>).</summary>
    public int ImagePlaceholderId => Specials.Image;

    /// <summary>The tokenizer whose vocabulary is <see cref="BuildVocabulary"/> of <paramref name="texts"/>.</summary>
    public static WordPieceTextTokenizer FromTexts(IEnumerable<string> texts) => new(BuildVocabulary(texts));

    /// <summary>A tokenizer over a given vocabulary file (one token per line; ids are line numbers;
    /// the first four lines must be <c>&lt;unk&gt;</c>, <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>, <c>&lt;pad&gt;</c>, the fifth
    /// the newline token, and the last six the new tokens in <see cref="SpecialTokens.NewTokenTexts"/> order).</summary>
    public static WordPieceTextTokenizer Load(string vocabPath)
    {
        var lines = File.ReadAllLines(vocabPath);
        string[] head = [.. BaseSpecials, Newline];
        for (int i = 0; i < head.Length; i++)
            if (lines.Length <= i || lines[i] != head[i])
                throw new DeemFormatException(vocabPath, $"expected special token '{head[i]}' at id {i}", $"line {i + 1}");
        int n = SpecialTokens.NewTokenCount;
        if (lines.Length < head.Length + n)
            throw new DeemFormatException(vocabPath, $"expected at least {head.Length + n} tokens, found {lines.Length}");
        for (int k = 0; k < n; k++)
        {
            int i = lines.Length - n + k;
            if (lines[i] != SpecialTokens.NewTokenTexts[k])
                throw new DeemFormatException(vocabPath, $"expected new token '{SpecialTokens.NewTokenTexts[k]}' at id {i} (the last {n} lines)", $"line {i + 1}");
        }
        return new WordPieceTextTokenizer(lines);
    }

    /// <summary>Writes the vocabulary (one token per line) so <see cref="Load"/> rebuilds the same tokenizer.</summary>
    public void Save(string path) => Deem.IO.AtomicFile.WriteAllText(path, string.Join("\n", _tokens) + "\n");

    /// <summary>Base specials, newline, characters, continuation characters, the words of <paramref name="texts"/>
    /// (ordinal order), then the six new tokens.</summary>
    public static List<string> BuildVocabulary(IEnumerable<string> texts)
    {
        var vocab = new List<string>(BaseSpecials) { Newline };
        var chars = Enumerable.Range('a', 26).Concat(Enumerable.Range('A', 26)).Concat(Enumerable.Range('0', 10))
            .Select(c => ((char)c).ToString()).Concat(Punctuation.Select(c => c.ToString())).ToList();
        vocab.AddRange(chars);
        vocab.AddRange(chars.Select(c => "##" + c));
        var seen = new HashSet<string>(vocab, StringComparer.Ordinal);
        var words = texts.SelectMany(t => Words.Matches(t).Select(m => m.Value)).Where(w => w.Length > 1 && seen.Add(w))
            .OrderBy(w => w, StringComparer.Ordinal);
        vocab.AddRange(words);
        vocab.AddRange(SpecialTokens.NewTokenTexts);
        return vocab;
    }

    /// <summary>All ids, the six new tokens included.</summary>
    public int VocabSize => _tokens.Length;
    public IReadOnlyList<string> Vocabulary => _tokens;

    /// <summary>The id of a whole token, or null.</summary>
    public int? TokenToId(string token)
    {
        int i = Array.IndexOf(_tokens, token);
        return i < 0 ? null : i;
    }

    public string IdToToken(int id) => id >= 0 && id < _tokens.Length ? _tokens[id]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"vocabulary has {_tokens.Length} tokens");

    /// <summary><c>&lt;|startofimage|&gt;</c> followed by <paramref name="imageTokens"/> placeholders (<see cref="SpecialTokens.ImageBlock"/>).</summary>
    public static string ImageBlock(int imageTokens) => SpecialTokens.ImageBlock(imageTokens);

    IReadOnlyList<int> ITextTokenizer.Encode(string text, bool addBos, bool addEos) => Encode(text, addBos, addEos);

    /// <summary>Encodes text; special-token strings in the text become their ids.</summary>
    public List<int> Encode(string text, bool addBos = false, bool addEos = false)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(BosId);
        int pos = 0;
        foreach (Match m in SpecialSplit.Matches(text))
        {
            EncodePlain(text[pos..m.Index], ids);
            ids.Add(_specialIds[m.Value.Trim(' ', '\t')]);
            pos = m.Index + m.Length;
        }
        EncodePlain(text[pos..], ids);
        if (addEos) ids.Add(EosId);
        return ids;
    }

    void EncodePlain(string chunk, List<int> ids)
    {
        if (string.IsNullOrWhiteSpace(chunk)) return;
        ids.AddRange(_wordPiece.EncodeToIds(chunk));
    }

    /// <summary>Decodes ids to canonical text (see the class remarks); <paramref name="skipSpecial"/> drops
    /// the special tokens (unk, bos, eos, pad and the six new ones; the newline is kept).</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = false)
    {
        var sb = new StringBuilder();
        bool prevText = false, prevHyphen = false, prevHash = false, prevOpen = false;
        foreach (int id in ids)
        {
            string tok = IdToToken(id);
            bool special = id < BaseSpecials.Length || id >= Specials.BaseVocabSize;
            if (special || id == NewlineId)
            {
                if (skipSpecial && special) continue;
                sb.Append(id == NewlineId ? "\n" : tok);
                prevText = false; prevHyphen = false; prevHash = false; prevOpen = false;
                continue;
            }
            bool cont = tok.StartsWith("##", StringComparison.Ordinal) && tok.Length > 2;
            string piece = cont ? tok[2..] : tok;
            bool punct = !cont && piece.Length == 1 && ".,?!:;)".Contains(piece[0]);
            bool hyphen = !cont && piece == "-";
            bool hashRun = piece == "#" && prevHash;
            if (prevText && !cont && !punct && !hyphen && !prevHyphen && !hashRun && !prevOpen) sb.Append(' ');
            sb.Append(piece);
            prevText = true; prevHyphen = hyphen; prevHash = piece == "#"; prevOpen = !cont && piece == "(";
        }
        return sb.ToString();
    }
}
