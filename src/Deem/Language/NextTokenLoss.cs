using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// Next-token prediction, paper Eq. (2), with DEEM's label rules (reference §2.1,
/// <c>_prepare_gt_text_ids</c>): the label of position j is token j+1, and it is ignored (−100) when
/// <list type="bullet">
/// <item>token j+1 lies in the sample's prompt prefix (positions &lt; its prompt offset, SFT);</item>
/// <item>the sample is marked "ignore text without an image" and no <c>&lt;soi&gt;</c> occurs between the
///   nearest preceding BOS (or the start) and token j+1;</item>
/// <item>token j+1 is pad, the image placeholder or BOS, or its attention mask is 0;</item>
/// <item>token j is BOS and token j+1 is <c>&lt;soi&gt;</c> (a document is not taught to open with an image).</item>
/// </list>
/// <c>&lt;soi&gt;</c> after text and <c>&lt;/s&gt;</c> remain targets. The loss is the mean fp32 cross-entropy
/// over the labels that are not ignored.
/// </summary>
public static class NextTokenLoss
{
    /// <summary>The label value cross-entropy skips.</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// Labels [B, L−1] for ids [B, L].
    /// </summary>
    /// <param name="ids">[B, L] token ids.</param>
    /// <param name="attentionMask">[B, L], 0 for padding; null means all real.</param>
    /// <param name="tokens">Special token ids.</param>
    /// <param name="promptOffsets">Per row, the number of leading tokens (system + user + assistant prefix) not to learn; null for none.</param>
    /// <param name="ignoreWithoutImage">Per row, whether text not preceded by an image in its document is ignored (datasets listed in <c>dataset_to_ignore_noimage_cond_loss</c>); null for none.</param>
    public static Tensor Labels(Tensor ids, Tensor? attentionMask, SpecialTokens tokens,
                                IReadOnlyList<long>? promptOffsets = null, IReadOnlyList<bool>? ignoreWithoutImage = null)
    {
        using var scope = NewDisposeScope();
        if (ids.ndim != 2) throw new ArgumentException($"ids: expected [B, L], found [{string.Join(", ", ids.shape)}]", nameof(ids));
        var (B, L) = (ids.shape[0], ids.shape[1]);
        if (attentionMask is not null && (attentionMask.ndim != 2 || attentionMask.shape[0] != B || attentionMask.shape[1] != L))
            throw new ArgumentException(
                $"attention_mask: expected [B={B}, L={L}], found [{string.Join(", ", attentionMask.shape)}]", nameof(attentionMask));
        CheckLength(promptOffsets?.Count, B, nameof(promptOffsets));
        CheckLength(ignoreWithoutImage?.Count, B, nameof(ignoreWithoutImage));

        var device = ids.device;
        var index = arange(L, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(B, L);    // [B, L]
        var ignoreToken = zeros([B, L], dtype: ScalarType.Bool, device: device);                    // [B, L] rules on the target token

        if (promptOffsets is not null)
        {
            var offsets = tensor(promptOffsets.ToArray(), device: device).unsqueeze(1);             // [B, 1]
            ignoreToken = ignoreToken.logical_or(index.lt(offsets));
        }
        if (ignoreWithoutImage is not null && ignoreWithoutImage.Any(x => x))
        {
            var nearestBos = index.masked_fill(ids.ne(tokens.Bos), -1).cummax(1).values.clamp_min(0);  // [B, L]
            var nearestSoi = index.masked_fill(ids.ne(tokens.Soi), -1).cummax(1).values;              // [B, L]
            var noImage = nearestSoi.lt(nearestBos).logical_or(nearestSoi.eq(-1));                    // [B, L]
            var rowsOn = tensor(ignoreWithoutImage.ToArray(), device: device).unsqueeze(1);          // [B, 1]
            ignoreToken = ignoreToken.logical_or(noImage.logical_and(rowsOn));
        }

        var prev = ids.narrow(1, 0, L - 1);                                                         // [B, L-1]
        var next = ids.narrow(1, 1, L - 1);                                                         // [B, L-1]
        var ignore = ignoreToken.narrow(1, 1, L - 1)                                                // [B, L-1]
            .logical_or(next.eq(tokens.Pad))
            .logical_or(next.eq(tokens.Image))
            .logical_or(next.eq(tokens.Bos))
            .logical_or(prev.eq(tokens.Bos).logical_and(next.eq(tokens.Soi)));
        if (attentionMask is not null)
            ignore = ignore.logical_or(attentionMask.narrow(1, 1, L - 1).eq(0));
        var labels = next.to_type(ScalarType.Int64).masked_fill(ignore, IgnoreIndex);
        return labels.MoveToOuterDisposeScope();
    }

    /// <summary>Labels from collator-supplied targets [B, L] (referring/mask SFT): the shift only.</summary>
    public static Tensor ShiftGiven(Tensor gtTextIds) =>
        gtTextIds.narrow(1, 1, gtTextIds.shape[1] - 1).to_type(ScalarType.Int64);                 // [B, L-1]

    /// <summary>
    /// Mean cross-entropy in fp32 of logits [B, L, V] (position j predicts label j) against labels
    /// [B, L−1]; the last position has no label. Zero (with a graph) when every label is ignored.
    /// </summary>
    public static Tensor Compute(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var (B, L, V) = (logits.shape[0], logits.shape[1], logits.shape[2]);
        if (labels.ndim != 2 || labels.shape[0] != B || labels.shape[1] != L - 1)
            throw new ArgumentException(
                $"labels: expected [B={B}, L-1={L - 1}], found [{string.Join(", ", labels.shape)}]", nameof(labels));
        var pred = logits.narrow(1, 0, L - 1).to_type(ScalarType.Float32).reshape(B * (L - 1), V);  // [B·(L-1), V]
        var target = labels.reshape(B * (L - 1));                                                    // [B·(L-1)]
        var sum = nn.functional.cross_entropy(pred, target, ignore_index: IgnoreIndex, reduction: nn.Reduction.Sum);
        var count = target.ne(IgnoreIndex).sum().to_type(ScalarType.Float32).clamp_min(1.0);
        return (sum / count).MoveToOuterDisposeScope();
    }

    /// <summary>Labels by the DEEM rules, then <see cref="Compute"/>.</summary>
    public static Tensor Forward(Tensor logits, Tensor ids, Tensor? attentionMask, SpecialTokens tokens,
                                 IReadOnlyList<long>? promptOffsets = null, IReadOnlyList<bool>? ignoreWithoutImage = null)
    {
        using var scope = NewDisposeScope();
        var labels = Labels(ids, attentionMask, tokens, promptOffsets, ignoreWithoutImage);
        return Compute(logits, labels).MoveToOuterDisposeScope();
    }

    private static void CheckLength(int? count, long batch, string name)
    {
        if (count is not null && count != batch)
            throw new ArgumentException($"{name}: expected one entry per row ({batch}), found {count}", name);
    }
}
