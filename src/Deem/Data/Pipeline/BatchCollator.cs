using Deem.Data.Images;
using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Data.Pipeline;

/// <summary>
/// Rows of ids and their images → a <see cref="DeemBatch"/> (reference §5.1 batching): ids right-padded
/// with pad to the longest row (attention mask 0 there), images of all rows concatenated in
/// row-major order with their per-row counts; explicit targets (stage 3) padded with −100.
/// </summary>
public static class BatchCollator
{
    /// <summary>Label value of positions nothing is learned at.</summary>
    public const long Ignore = -100;

    /// <param name="rows">Token ids per row.</param>
    /// <param name="images">Images per row, in the order of the row's soi tokens.</param>
    /// <param name="tokens">Special ids (pad, soi).</param>
    /// <param name="sources">Data set of each row.</param>
    /// <param name="encoderResolution">Side of the encoder views.</param>
    /// <param name="decoderResolution">Side of the decoder views.</param>
    /// <param name="promptOffsets">Per row, prompt tokens not learned (SFT).</param>
    /// <param name="targets">Per row, explicit targets (−100 = ignored), as long as the row.</param>
    /// <param name="regionMasks">[I, 1, He, We] region masks in batch image order (taken over by the batch).</param>
    /// <param name="ntpWeight">Per-batch NTP weight override.</param>
    /// <param name="nipWeight">Per-batch NIP weight override.</param>
    public static DeemBatch Collate(IReadOnlyList<int[]> rows, IReadOnlyList<IReadOnlyList<ImagePair>> images, SpecialTokens tokens,
        IReadOnlyList<string> sources, int encoderResolution, int decoderResolution, IReadOnlyList<long>? promptOffsets = null,
        IReadOnlyList<long[]>? targets = null, Tensor? regionMasks = null, double? ntpWeight = null, double? nipWeight = null)
    {
        int B = rows.Count;
        if (B == 0) throw new ArgumentException("a batch needs at least one row", nameof(rows));
        if (images.Count != B || sources.Count != B) throw new ArgumentException($"{B} rows but {images.Count} image lists and {sources.Count} sources");
        int L = rows.Max(r => r.Length);
        var ids = new long[B * L];
        var mask = new long[B * L];
        var gt = targets is null ? null : new long[B * L];
        for (int b = 0; b < B; b++)
        {
            var row = rows[b];
            int sois = row.Count(i => i == tokens.Soi);
            if (sois != images[b].Count) throw new ArgumentException($"row {b}: {sois} soi tokens but {images[b].Count} images", nameof(images));
            if (targets is not null && targets[b].Length != row.Length)
                throw new ArgumentException($"row {b}: {targets[b].Length} targets for {row.Length} ids", nameof(targets));
            for (int l = 0; l < L; l++)
            {
                bool real = l < row.Length;
                ids[b * L + l] = real ? row[l] : tokens.Pad;
                mask[b * L + l] = real ? 1 : 0;
                if (gt is not null) gt[b * L + l] = real ? targets![b][l] : Ignore;
            }
        }
        var all = images.SelectMany(x => x).ToList();
        foreach (var p in all)
            if (p.EncoderSize != encoderResolution || p.DecoderSize != decoderResolution)
                throw new ArgumentException($"image views {p.EncoderSize}/{p.DecoderSize}, expected {encoderResolution}/{decoderResolution}", nameof(images));
        int I = all.Count;
        if (regionMasks is not null && (regionMasks.ndim != 4 || regionMasks.shape[0] != I))
            throw new ArgumentException($"region masks: expected [I={I}, 1, He, We], found [{string.Join(", ", regionMasks.shape)}]", nameof(regionMasks));
        return new DeemBatch
        {
            Ids = tensor(ids, [B, L]),
            AttentionMask = tensor(mask, [B, L]),
            ImagesEnc = Stack(all.Select(p => p.Encoder), I, encoderResolution),
            ImagesDec = Stack(all.Select(p => p.Decoder), I, decoderResolution),
            ImagesPerSequence = images.Select(x => (long)x.Count).ToArray(),
            RegionMasks = regionMasks,
            PromptOffsets = promptOffsets?.ToArray(),
            GtTextIds = gt is null ? null : tensor(gt, [B, L]),
            NtpWeight = ntpWeight,
            NipWeight = nipWeight,
            Sources = sources.ToArray(),
        };
    }

    static Tensor Stack(IEnumerable<float[]> views, int count, int size)
    {
        var flat = new float[(long)count * 3 * size * size];
        int offset = 0;
        foreach (var v in views) { v.CopyTo(flat, offset); offset += v.Length; }
        return tensor(flat, [count, 3, size, size]);                                             // [I, 3, S, S]
    }
}
