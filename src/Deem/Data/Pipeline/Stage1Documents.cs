using System.Text;
using Deem.Data.Formats;
using Deem.Data.Images;
using Deem.Text;

namespace Deem.Data.Pipeline;

/// <summary>
/// Turns stage-1 records into token documents (reference §5.1, <c>mmc4_wds.py</c> / <c>laion_wds.py</c>).
/// <para>MMC4 document:</para>
/// <list type="number">
/// <item>drop images with <c>matched_sim</c> &lt; 0.24 and images that fail to decode (counted);</item>
/// <item>keep at most 6 at random, re-sorted by sentence index;</item>
/// <item>each image block goes before (p = image_first_probability) or after its matched sentence;</item>
/// <item>sentences are joined with single spaces, with no spaces around image blocks;</item>
/// <item><c>&lt;/s&gt;</c> is appended and the text tokenised with BOS;</item>
/// <item>documents with no image are rejected, single-image documents with p = 0.5.</item>
/// </list>
/// <para>Image–caption pair: the caption is lowercased, the image block goes before it with
/// p = image_first_probability (0.5 in the paper configs) or after it, then <c>&lt;/s&gt;</c>; an
/// over-long caption is truncated so the whole pair, image block included, fits max_length.</para>
/// An image block is <c>&lt;|startofimage|&gt;</c> + N × <c>&lt;|sniffer|&gt;</c>. The horizontal flip of
/// each image is drawn once here and shared by its two views.
/// </summary>
public sealed class Stage1Documents
{
    /// <summary>MMC4 images matched with a lower CLIP similarity are dropped.</summary>
    public const double MinMatchedSim = 0.24;
    /// <summary>Most images kept per MMC4 document.</summary>
    public const int MaxImagesPerDocument = 6;
    /// <summary>Probability of rejecting an MMC4 document left with a single image.</summary>
    public const double SingleImageRejectProbability = 0.5;

    readonly ITextTokenizer _tok;
    readonly DualTransform _transform;
    readonly SkipCounter _skips;
    readonly Dictionary<string, int> _rejected = new(StringComparer.Ordinal);

    /// <param name="tokenizer">Text tokenizer.</param>
    /// <param name="imageTokens">N, placeholders per image block (the perceiver's query count).</param>
    /// <param name="maxLength">Longest packed sequence (pairs are truncated to fit).</param>
    /// <param name="transform">The dual image transform (stage 1: center crop).</param>
    /// <param name="randomFlip">Draw a horizontal flip per image with p = 0.5.</param>
    /// <param name="imageFirstProbability">Probability of an image block before its text.</param>
    /// <param name="skips">Where unreadable images are counted.</param>
    public Stage1Documents(ITextTokenizer tokenizer, int imageTokens, int maxLength, DualTransform transform,
        bool randomFlip, double imageFirstProbability, SkipCounter skips)
    {
        _tok = tokenizer;
        ImageTokens = imageTokens;
        MaxLength = maxLength;
        _transform = transform;
        RandomFlip = randomFlip;
        ImageFirstProbability = imageFirstProbability;
        _skips = skips;
        Block = [tokenizer.Specials.Soi, .. Enumerable.Repeat(tokenizer.Specials.Image, imageTokens)];
    }

    public int ImageTokens { get; }
    public int MaxLength { get; }
    public bool RandomFlip { get; }
    public double ImageFirstProbability { get; }

    /// <summary>The ids of one image block.</summary>
    public int[] Block { get; }

    /// <summary>Documents rejected by the rules (not malformed), per reason: "no image", "single image", "caption".</summary>
    public IReadOnlyDictionary<string, int> Rejected => _rejected;

    /// <summary>The token document of an MMC4 record, or null when rejected.</summary>
    public TokenDoc? FromMmc4(Mmc4Record record, PipelineRng rng)
    {
        var doc = record.Document;
        var candidates = Enumerable.Range(0, doc.ImageInfo.Count).Where(i => doc.ImageInfo[i].MatchedSim >= MinMatchedSim).ToList();
        rng.Shuffle(candidates);
        var kept = new List<(int Index, BufferedImage Image)>();
        foreach (int c in candidates)
        {
            if (kept.Count == MaxImagesPerDocument) break;
            var imageRef = ImageRef.File(record.ImagePaths[c], RandomFlip && rng.Bernoulli(0.5));
            if (_transform.TryLoad(imageRef, _skips) is { } pixels) kept.Add((c, new BufferedImage(imageRef, pixels)));
        }
        if (kept.Count == 0) return Reject("no image");
        if (kept.Count == 1 && rng.Bernoulli(SingleImageRejectProbability)) return Reject("single image");
        kept.Sort((a, b) => (doc.ImageInfo[a.Index].MatchedTextIndex, a.Index).CompareTo((doc.ImageInfo[b.Index].MatchedTextIndex, b.Index)));
        var before = kept.Select(_ => rng.Bernoulli(ImageFirstProbability)).ToArray();

        string block = SpecialTokens.ImageBlock(ImageTokens);
        var sb = new StringBuilder();
        var images = new List<BufferedImage>();
        bool afterBlock = false;
        void AddBlock(BufferedImage im)
        {
            while (sb.Length > 0 && char.IsWhiteSpace(sb[^1])) sb.Length--;
            sb.Append(block);
            images.Add(im);
            afterBlock = true;
        }
        for (int j = 0; j < doc.TextList.Count; j++)
        {
            for (int k = 0; k < kept.Count; k++)
                if (before[k] && doc.ImageInfo[kept[k].Index].MatchedTextIndex == j) AddBlock(kept[k].Image);
            string sentence = doc.TextList[j].Trim();
            if (sentence.Length > 0)
            {
                if (sb.Length > 0 && !afterBlock) sb.Append(' ');
                sb.Append(sentence);
                afterBlock = false;
            }
            for (int k = 0; k < kept.Count; k++)
                if (!before[k] && doc.ImageInfo[kept[k].Index].MatchedTextIndex == j) AddBlock(kept[k].Image);
        }
        sb.Append(SpecialTokens.EosText);
        var ids = _tok.Encode(sb.ToString(), addBos: true).ToArray();
        int sois = ids.Count(i => i == _tok.Specials.Soi);
        if (sois != images.Count)
        {
            _skips.Skip(record.Source, null, "bad text", $"the text itself holds image tokens ({sois} soi for {images.Count} images)");
            return null;
        }
        return new TokenDoc(ids, images);
    }

    /// <summary>The token document of an image–caption pair, or null when its image does not decode or its caption is empty.</summary>
    public TokenDoc? FromPair(WdsSample sample, PipelineRng rng)
    {
        var sp = _tok.Specials;
        string caption = sample.Caption.Trim().ToLowerInvariant();
        bool imageFirst = rng.Bernoulli(ImageFirstProbability);
        var imageRef = new ImageRef(sample.Source, sample.Key, sample.Jpg, RandomFlip && rng.Bernoulli(0.5));
        if (_transform.TryLoad(imageRef, _skips) is not { } pixels) return null;
        var text = _tok.Encode(caption).Where(i => i != sp.Soi && i != sp.Image).ToList();
        if (text.Count == 0) return Reject("caption");
        int budget = MaxLength - Block.Length - 2;
        if (text.Count > budget) text.RemoveRange(budget, text.Count - budget);
        int[] ids = imageFirst ? [sp.Bos, .. Block, .. text, sp.Eos] : [sp.Bos, .. text, .. Block, sp.Eos];
        return new TokenDoc(ids, [new BufferedImage(imageRef, pixels)]);
    }

    TokenDoc? Reject(string reason)
    {
        _rejected[reason] = _rejected.GetValueOrDefault(reason) + 1;
        return null;
    }
}
