using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// Position ids and the additive self-attention mask of the LLaMA decoder (reference §1.6, §4.1):
/// causal over the cached and new tokens, keys whose attention-mask entry is 0 (left padding)
/// hidden, and positions counted from the first real token of each row as HF generation does
/// (<c>cumsum(mask) − 1</c>, padding positions set to 1).
/// </summary>
public static class AttentionMasks
{
    /// <summary>
    /// Position ids [B, L] of the last <paramref name="newLength"/> tokens. With an attention mask
    /// [B, P+L] they count real tokens only; without one they are P … P+L−1.
    /// </summary>
    public static Tensor PositionIds(long batch, long newLength, long pastLength, Tensor? attentionMask, Device device)
    {
        using var scope = NewDisposeScope();
        Tensor pos;
        if (attentionMask is null)
        {
            pos = arange(pastLength, pastLength + newLength, dtype: ScalarType.Int64, device: device)
                .unsqueeze(0).expand(batch, newLength);                                      // [B, L]
        }
        else
        {
            var m = attentionMask.to_type(ScalarType.Int64);                                 // [B, P+L]
            var full = m.cumsum(-1) - 1;                                                     // [B, P+L]
            full = full.masked_fill(m.eq(0), 1);
            pos = full.narrow(1, full.shape[1] - newLength, newLength);                       // [B, L]
        }
        return pos.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Additive mask [B, 1, L, P+L] in <paramref name="dtype"/>: 0 where query i (at absolute index P+i)
    /// may see key j (j ≤ P+i and the key is not padding), the dtype's most negative finite value
    /// elsewhere (a fully hidden row — a padding query — then attends uniformly instead of giving NaN).
    /// Returns null when no masking is needed (a single new token and no attention mask).
    /// </summary>
    public static Tensor? Additive(long batch, long newLength, long pastLength, Tensor? attentionMask, ScalarType dtype, Device device)
    {
        if (attentionMask is null && newLength == 1) return null;
        using var scope = NewDisposeScope();
        var total = pastLength + newLength;
        var qIdx = arange(pastLength, total, dtype: ScalarType.Int64, device: device).unsqueeze(1);   // [L, 1]
        var kIdx = arange(0, total, dtype: ScalarType.Int64, device: device).unsqueeze(0);            // [1, P+L]
        var allowed = kIdx.le(qIdx).unsqueeze(0).unsqueeze(0)                                          // [1, 1, L, P+L]
            .expand(batch, 1, newLength, total);                                                       // [B, 1, L, P+L]
        if (attentionMask is not null)
        {
            if (attentionMask.ndim != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != total)
                throw new ArgumentException(
                    $"attention_mask: expected [B={batch}, P+L={total}], found [{string.Join(", ", attentionMask.shape)}]",
                    nameof(attentionMask));
            var keyOk = attentionMask.ne(0).view(batch, 1, 1, total);                                  // [B, 1, 1, P+L]
            allowed = allowed.logical_and(keyOk);                                                      // [B, 1, L, P+L]
        }
        var minValue = dtype switch
        {
            ScalarType.Float16 => -65504.0,
            ScalarType.BFloat16 => -3.38e38,
            ScalarType.Float64 => double.MinValue,
            _ => float.MinValue,
        };
        var mask = zeros(allowed.shape, dtype: dtype, device: device).masked_fill(allowed.logical_not(), minValue);
        return mask.MoveToOuterDisposeScope();
    }
}
