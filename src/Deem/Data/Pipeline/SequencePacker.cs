using Deem.Text;

namespace Deem.Data.Pipeline;

/// <summary>How a packed sequence may be cut (reference §5.1 <c>extract_seq</c> truncation levels).</summary>
public enum PackTruncation
{
    /// <summary>MMC4: cut anywhere except inside an image block (then cut just before its soi); the rest of a document continues the next sequence.</summary>
    Image,
    /// <summary>Pairs: cut at a document start (the last BOS that keeps the sequence within max_length).</summary>
    Sample,
}

/// <summary>
/// Packs processed documents into sequences of at most max_length ids (reference §5.1
/// <c>concat_sample</c> / <c>extract_seq</c>). Documents are appended whole to a running buffer of
/// ids and images; a sequence is cut from the front once the buffer holds max_length ids or more
/// than max_images_per_sequence images, and the remainder stays in the buffer.
/// <para>Where the cut goes, starting from end = min(buffer length, max_length):</para>
/// <list type="number">
/// <item>More than K = max_images_per_sequence images before end: end = just after the K-th image block
///   (<see cref="PackTruncation.Image"/>), or the start of the document holding image K+1 when that start
///   is after the first token (<see cref="PackTruncation.Sample"/>, so a caption is never cut off its image).</item>
/// <item><see cref="PackTruncation.Sample"/>: if end falls inside a document, end = that document's BOS when
///   the BOS is after the first token.</item>
/// <item>If end falls inside an image block (soi at s, s &lt; end ≤ s + N), end = s: the whole block moves to
///   the next sequence.</item>
/// </list>
/// A single document longer than max_length is therefore split into consecutive sequences (the
/// authors' "push the remainder back"), never inside an image block; the continuation carries no
/// BOS, so <see cref="Deem.Language.ImageLayout"/> still scopes it to its own images. Image blocks must
/// be shorter than max_length (checked), so every cut makes progress.
/// </summary>
public sealed class SequencePacker
{
    readonly List<int> _ids = [];
    readonly List<BufferedImage> _images = [];

    /// <param name="tokens">Special ids (bos, soi).</param>
    /// <param name="imageTokens">N, placeholders per image block (the perceiver's query count).</param>
    /// <param name="maxLength">Longest sequence.</param>
    /// <param name="maxImages">Most images per sequence.</param>
    /// <param name="truncation">Cut rule.</param>
    public SequencePacker(SpecialTokens tokens, int imageTokens, int maxLength, int maxImages, PackTruncation truncation)
    {
        if (imageTokens < 1) throw new ArgumentOutOfRangeException(nameof(imageTokens), imageTokens, "must be ≥ 1");
        if (maxImages < 1) throw new ArgumentOutOfRangeException(nameof(maxImages), maxImages, "must be ≥ 1");
        if (maxLength < imageTokens + 3)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"must exceed an image block (1 + {imageTokens}) plus BOS and EOS");
        (Tokens, ImageTokens, MaxLength, MaxImages, Truncation) = (tokens, imageTokens, maxLength, maxImages, truncation);
    }

    public SpecialTokens Tokens { get; }
    public int ImageTokens { get; }
    public int MaxLength { get; }
    public int MaxImages { get; }
    public PackTruncation Truncation { get; }

    /// <summary>Ids waiting in the buffer.</summary>
    public IReadOnlyList<int> BufferIds => _ids;
    /// <summary>Images waiting in the buffer, in soi order.</summary>
    public IReadOnlyList<BufferedImage> BufferImages => _images;

    /// <summary>Appends a processed document (its image count must equal its soi count).</summary>
    public void Add(TokenDoc doc) => Add(doc.Ids, doc.Images);

    /// <summary>Appends ids and their images (also used to restore a saved buffer).</summary>
    public void Add(IReadOnlyList<int> ids, IReadOnlyList<BufferedImage> images)
    {
        int sois = ids.Count(i => i == Tokens.Soi);
        if (sois != images.Count) throw new ArgumentException($"{sois} soi tokens but {images.Count} images", nameof(images));
        _ids.AddRange(ids);
        _images.AddRange(images);
    }

    /// <summary>Empties the buffer.</summary>
    public void Clear() { _ids.Clear(); _images.Clear(); }

    /// <summary>True when the buffer holds enough for a full sequence (max_length ids or more than K images).</summary>
    public bool Ready => _ids.Count >= MaxLength || _images.Count > MaxImages;

    /// <summary>Cuts the next sequence if <see cref="Ready"/>; otherwise null.</summary>
    public PackedSequence? TryCut() => Ready ? Cut() : null;

    /// <summary>Cuts a sequence from the front of the buffer by the class rules (whatever is there, if less than a full one).</summary>
    public PackedSequence Cut()
    {
        if (_ids.Count == 0) throw new InvalidOperationException("the packing buffer is empty");
        var sois = new List<int>();
        for (int i = 0; i < _ids.Count; i++) if (_ids[i] == Tokens.Soi) sois.Add(i);

        int end = Math.Min(_ids.Count, MaxLength);
        // Rule 1: at most K images.
        int before = sois.Count(s => s < end);
        if (before > MaxImages)
        {
            int afterK = sois[MaxImages - 1] + 1 + ImageTokens;
            end = afterK;
            if (Truncation == PackTruncation.Sample && LastBos(sois[MaxImages]) is > 0 and var docStart && docStart >= afterK)
                end = docStart;
        }
        // Rule 2: documents whole for pairs.
        if (Truncation == PackTruncation.Sample && end < _ids.Count && _ids[end] != Tokens.Bos && LastBos(end) is > 0 and var bos)
            end = bos;
        // Rule 3: never inside an image block.
        foreach (int s in sois)
            if (s < end && end <= s + ImageTokens && s > 0) { end = s; break; }

        int imageCount = sois.Count(s => s < end);
        var seq = new PackedSequence(_ids.GetRange(0, end).ToArray(), _images.GetRange(0, imageCount).ToArray());
        _ids.RemoveRange(0, end);
        _images.RemoveRange(0, imageCount);
        return seq;
    }

    /// <summary>The last BOS at or before <paramref name="pos"/>, or −1.</summary>
    int LastBos(int pos)
    {
        for (int i = Math.Min(pos, _ids.Count - 1); i >= 0; i--) if (_ids[i] == Tokens.Bos) return i;
        return -1;
    }
}
