using System.Text;
using System.Text.RegularExpressions;
using Deem.Data.World;
using Microsoft.ML.Tokenizers;

namespace Deem.Text;

/// <summary>
/// Tokenizer of the procedural world's closed vocabulary with DEEM's special tokens (reference §1.5).
/// Ids 0–6 are <c>&lt;unk&gt;</c>, <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>, <c>&lt;pad&gt;</c>,
/// <c>&lt;|startofimage|&gt;</c> (soi), <c>&lt;|sniffer|&gt;</c> (image placeholder) and a newline token;
/// then single characters (word-initial and "##" continuation, so any ASCII word still encodes
/// without <c>&lt;unk&gt;</c>), then every whole word the generator and the prompt templates can emit.
/// <para>
/// Plain text goes through Microsoft.ML.Tokenizers' <see cref="WordPieceTokenizer"/> (split at
/// whitespace and at each punctuation mark, as BERT does; greedy longest-match WordPiece) over this generated vocabulary. Special tokens and
/// newlines are split out here first, because the library's whitespace pre-tokenizer would cut
/// "&lt;|sniffer|&gt;" into punctuation marks and drop "\n". As in the slow LLaMA tokenizer DEEM uses,
/// whitespace on both sides of a special token is stripped, so an image block is soi + N × placeholder
/// with no spaces around it. Decoding is done from the id table here (words joined by one space, none
/// before punctuation, around "-", between "#"s or before a "##" piece), which is the canonical text form.
/// </para>
/// </summary>
public sealed class WorldTokenizer
{
    public const string Unk = "<unk>", Bos = "<s>", Eos = "</s>", Pad = "<pad>";
    public const string Soi = "<|startofimage|>", ImagePlaceholder = "<|sniffer|>", Newline = "<0x0A>";
    public const int UnkId = 0, BosId = 1, EosId = 2, PadId = 3, SoiId = 4, ImagePlaceholderId = 5, NewlineId = 6;

    static readonly string[] Specials = [Unk, Bos, Eos, Pad, Soi, ImagePlaceholder];
    const string Punctuation = ".,?!:;'\"-()[]{}#<>/|_*+=&%$@~`^\\";
    static readonly Regex SpecialSplit = new(
        string.Join("|", Specials.Select(s => @"[ \t]*" + Regex.Escape(s) + @"[ \t]*")) + @"|[ \t]*\n[ \t]*", RegexOptions.CultureInvariant);
    static readonly Regex Words = new(@"\w+", RegexOptions.CultureInvariant);

    readonly WordPieceTokenizer _wordPiece;
    readonly string[] _tokens;
    readonly Dictionary<string, int> _specialIds;

    WorldTokenizer(IReadOnlyList<string> vocabulary)
    {
        _tokens = vocabulary.ToArray();
        var text = new StringBuilder();
        foreach (var t in _tokens) text.Append(t).Append('\n');
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text.ToString()));
        _wordPiece = WordPieceTokenizer.Create(stream, new WordPieceOptions
        {
            UnknownToken = Unk, ContinuingSubwordPrefix = "##", PreTokenizer = PreTokenizer.CreateWordOrPunctuation(null),
        });
        _specialIds = Specials.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i, StringComparer.Ordinal);
        _specialIds["\n"] = NewlineId;
    }

    /// <summary>The tokenizer over the world vocabulary plus the prompt templates.</summary>
    public static WorldTokenizer Create() => new(BuildVocabulary(WorldVocabulary.AllWords().Concat(PromptTemplates.AllText())));

    /// <summary>A tokenizer over a given vocabulary file (one token per line; ids are line numbers;
    /// the first seven lines must be the special tokens in the order of the id constants).</summary>
    public static WorldTokenizer Load(string vocabPath)
    {
        var lines = File.ReadAllLines(vocabPath);
        for (int i = 0; i < Specials.Length; i++)
            if (lines.Length <= i || lines[i] != Specials[i])
                throw new DeemFormatException(vocabPath, $"expected special token '{Specials[i]}' at id {i}", $"line {i + 1}");
        return new WorldTokenizer(lines);
    }

    /// <summary>Writes the vocabulary (one token per line) so <see cref="Load"/> rebuilds the same tokenizer.</summary>
    public void Save(string path) => Deem.IO.AtomicFile.WriteAllText(path, string.Join("\n", _tokens) + "\n");

    /// <summary>Specials, newline, characters, continuation characters, then the words of <paramref name="texts"/> (ordinal order).</summary>
    public static List<string> BuildVocabulary(IEnumerable<string> texts)
    {
        var vocab = new List<string>(Specials) { Newline };
        var chars = Enumerable.Range('a', 26).Concat(Enumerable.Range('A', 26)).Concat(Enumerable.Range('0', 10))
            .Select(c => ((char)c).ToString()).Concat(Punctuation.Select(c => c.ToString())).ToList();
        vocab.AddRange(chars);
        vocab.AddRange(chars.Select(c => "##" + c));
        var seen = new HashSet<string>(vocab, StringComparer.Ordinal);
        var words = texts.SelectMany(t => Words.Matches(t).Select(m => m.Value)).Where(w => w.Length > 1 && seen.Add(w))
            .OrderBy(w => w, StringComparer.Ordinal);
        vocab.AddRange(words);
        return vocab;
    }

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

    /// <summary><c>&lt;|startofimage|&gt;</c> followed by <paramref name="imageTokens"/> placeholders.</summary>
    public static string ImageBlock(int imageTokens)
    {
        if (imageTokens < 0) throw new ArgumentOutOfRangeException(nameof(imageTokens), imageTokens, "must not be negative");
        return Soi + string.Concat(Enumerable.Repeat(ImagePlaceholder, imageTokens));
    }

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
    /// the six special tokens (the newline is kept).</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = false)
    {
        var sb = new StringBuilder();
        bool prevText = false, prevHyphen = false, prevHash = false;
        foreach (int id in ids)
        {
            string tok = IdToToken(id);
            if (id < Specials.Length || id == NewlineId)
            {
                if (skipSpecial && id < Specials.Length) continue;
                sb.Append(id == NewlineId ? "\n" : tok);
                prevText = false; prevHyphen = false; prevHash = false;
                continue;
            }
            bool cont = tok.StartsWith("##", StringComparison.Ordinal) && tok.Length > 2;
            string piece = cont ? tok[2..] : tok;
            bool punct = !cont && piece.Length == 1 && ".,?!:;)".Contains(piece[0]);
            bool hyphen = !cont && piece == "-";
            bool hashRun = piece == "#" && prevHash;
            if (prevText && !cont && !punct && !hyphen && !prevHyphen && !hashRun) sb.Append(' ');
            sb.Append(piece);
            prevText = true; prevHyphen = hyphen; prevHash = piece == "#";
        }
        return sb.ToString();
    }
}
