using System.Text.RegularExpressions;
using Deem.Text;

namespace Deem.Inference;

/// <summary>
/// Text ↔ ids for generation (reference §1.5, §5.2): a prompt written with the templates of
/// <see cref="PromptTemplates"/> has one image block (<c>&lt;|startofimage|&gt;</c> followed by
/// placeholders) per image; here each block becomes the model's soi id plus exactly Nq placeholder
/// ids, whatever number of placeholders the text spelled, and the text between blocks goes through
/// the tokenizer. Decoding drops BOS, EOS, pad and the six new tokens, so streamed text is plain words.
/// </summary>
public sealed class PromptCodec
{
    static readonly Regex ImageBlock = new(Regex.Escape(SpecialTokens.SoiText) + "(?:[ \\t]*" + Regex.Escape(SpecialTokens.ImageText) + ")*",
        RegexOptions.CultureInvariant);

    readonly ITextTokenizer tokenizer;

    public PromptCodec(ITextTokenizer tokenizer, SpecialTokens tokens, int imageTokens)
    {
        this.tokenizer = tokenizer;
        Tokens = tokens;
        ImageTokens = imageTokens;
    }

    /// <summary>The model's special ids.</summary>
    public SpecialTokens Tokens { get; }

    /// <summary>Placeholders per image (Nq).</summary>
    public int ImageTokens { get; }

    /// <summary>The tokenizer.</summary>
    public ITextTokenizer Tokenizer => tokenizer;

    /// <summary>Number of image blocks in <paramref name="text"/>.</summary>
    public static int CountImages(string text) => ImageBlock.Matches(text).Count;

    /// <summary>The soi id followed by Nq placeholder ids.</summary>
    public IEnumerable<long> ImageIds() => new long[] { Tokens.Soi }.Concat(Enumerable.Repeat((long)Tokens.Image, ImageTokens));

    /// <summary>Ids of a prompt; BOS first when <paramref name="addBos"/>.</summary>
    public List<long> Encode(string text, bool addBos = true)
    {
        var ids = new List<long>();
        if (addBos) ids.Add(Tokens.Bos);
        int pos = 0;
        // Whitespace beside an image block is stripped, as the slow LLaMA tokenizer does around its new tokens.
        foreach (Match m in ImageBlock.Matches(text))
        {
            EncodeText(Trim(text[pos..m.Index], start: pos > 0, end: true), ids);
            ids.AddRange(ImageIds());
            pos = m.Index + m.Length;
        }
        EncodeText(Trim(text[pos..], start: pos > 0, end: false), ids);
        return ids;
    }

    static string Trim(string s, bool start, bool end) => start && end ? s.Trim() : start ? s.TrimStart() : end ? s.TrimEnd() : s;

    void EncodeText(string piece, List<long> ids)
    {
        if (piece.Length == 0) return;
        foreach (var id in tokenizer.Encode(piece))
        {
            if (id >= Tokens.VocabSize)
                throw new DeemConfigException("tokenizer", "vocab_size",
                    $"the tokenizer produced id {id}, outside the model's vocabulary of {Tokens.VocabSize}");
            ids.Add(id);
        }
    }

    /// <summary>True for ids that are never printed (BOS, EOS, pad, and the six new tokens).</summary>
    public bool IsSpecial(long id) => id == Tokens.Bos || id == Tokens.Eos || id == Tokens.Pad || id >= Tokens.BaseVocabSize;

    /// <summary>Text of generated ids, special ids dropped.</summary>
    public string Decode(IEnumerable<long> ids) =>
        tokenizer.Decode(ids.Where(i => !IsSpecial(i) && i < tokenizer.VocabSize).Select(i => (int)i));
}
