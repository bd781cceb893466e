using static TorchSharp.torch;

namespace Deem.Data.Pipeline;

/// <summary>
/// One training batch as the DEEM model consumes it (reference §5.1 batching, §2.1 label rules, §5.2,
/// §5.3): token ids right-padded with pad, the images of all rows concatenated in row-major order
/// (image i is the i-th <c>&lt;soi&gt;</c> of the batch read row by row, the order
/// <see cref="Deem.Language.ImageLayout"/> numbers them), and the per-stage extras. Owns its tensors.
/// </summary>
public sealed class DeemBatch : IDisposable
{
    /// <summary>[B, L] int64 token ids.</summary>
    public required Tensor Ids { get; init; }
    /// <summary>[B, L] int64, 1 for real tokens, 0 for right padding.</summary>
    public required Tensor AttentionMask { get; init; }
    /// <summary>[I, 3, He, We] float32 in [0, 1], encoder views.</summary>
    public required Tensor ImagesEnc { get; init; }
    /// <summary>[I, 3, Hd, Wd] float32 in [0, 1], decoder views (NIP targets).</summary>
    public required Tensor ImagesDec { get; init; }
    /// <summary>[B] images in each row.</summary>
    public required long[] ImagesPerSequence { get; init; }
    /// <summary>[I, 1, He, We] float32 0/1 region masks (stage 3: all ones for the whole image, then one per region); null otherwise.</summary>
    public Tensor? RegionMasks { get; init; }
    /// <summary>[B] tokens of each row's prompt (system + user + assistant prefix, BOS included); NTP ignores targets before it (SFT); null for none.</summary>
    public long[]? PromptOffsets { get; init; }
    /// <summary>[B, L] int64 explicit targets with −100 where nothing is learned (stage 3); used after the shift instead of the rule-based labels; null otherwise.</summary>
    public Tensor? GtTextIds { get; init; }
    /// <summary>Per-batch NTP weight overriding the stage's (the SFT collators' <c>loss_txt_weight</c>); null keeps the stage's.</summary>
    public double? NtpWeight { get; init; }
    /// <summary>Per-batch NIP weight overriding the stage's (0 for image → text SFT data); null keeps the stage's.</summary>
    public double? NipWeight { get; init; }
    /// <summary>[B] the data set of each row ("mmc4", "laion", "llava", "caption_qa", "coco_region").</summary>
    public required string[] Sources { get; init; }

    public long BatchSize => Ids.shape[0];
    public long Length => Ids.shape[1];
    public long ImageCount => ImagesEnc.shape[0];

    public void Dispose()
    {
        Ids.Dispose();
        AttentionMask.Dispose();
        ImagesEnc.Dispose();
        ImagesDec.Dispose();
        RegionMasks?.Dispose();
        GtTextIds?.Dispose();
    }
}
