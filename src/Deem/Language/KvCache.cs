using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// Keys and values of every decoder layer's self-attention from earlier steps (reference §4.1:
/// incremental decoding). Layer i's K/V [B, nKV, P, hD] (after RoPE, before the GQA repeat) grow by
/// the new tokens each step. Each layer's keys and values live in a buffer with room to spare
/// (doubled when full), so a step writes only its new positions instead of copying the whole cache;
/// the attention reads a [B, nKV, P+L, hD] view of it. The cache owns its buffers: they live outside
/// dispose scopes until the cache is disposed.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] keys;      // [B, nKV, capacity, hD]
    private readonly Tensor?[] values;    // [B, nKV, capacity, hD]
    private readonly long[] lengths;

    public KvCache(int numLayers)
    {
        keys = new Tensor?[numLayers];
        values = new Tensor?[numLayers];
        lengths = new long[numLayers];
    }

    public int NumLayers => keys.Length;

    /// <summary>P: positions cached so far (layer 0's count; every layer appends the same).</summary>
    public long Length => lengths[0];

    /// <summary>
    /// Appends layer <paramref name="layer"/>'s new keys and values [B, nKV, L, hD] and returns all of
    /// them [B, nKV, P+L, hD] (views of the cache's buffers, valid until the next append of that layer).
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        long p = lengths[layer], total = p + k.shape[2];
        keys[layer] = Reserve(keys[layer], k, p, total);
        values[layer] = Reserve(values[layer], v, p, total);
        using (no_grad())
        {
            keys[layer]!.narrow(2, p, k.shape[2]).copy_(k);
            values[layer]!.narrow(2, p, v.shape[2]).copy_(v);
        }
        lengths[layer] = total;
        return (keys[layer]!.narrow(2, 0, total), values[layer]!.narrow(2, 0, total));   // [B, nKV, P+L, hD]
    }

    /// <summary>The buffer with room for <paramref name="total"/> positions: as is, or a doubled copy of its first <paramref name="used"/>.</summary>
    private static Tensor Reserve(Tensor? buffer, Tensor like, long used, long total)
    {
        if (buffer is not null && buffer.shape[2] >= total) return buffer;
        long capacity = Math.Max(total, 2 * (buffer?.shape[2] ?? 0));
        capacity = Math.Max(capacity, 64);
        var grown = zeros(new[] { like.shape[0], like.shape[1], capacity, like.shape[3] }, dtype: like.dtype, device: like.device);
        grown.DetachFromDisposeScope();
        if (buffer is not null)
        {
            using (no_grad()) grown.narrow(2, 0, used).copy_(buffer.narrow(2, 0, used));
            buffer.Dispose();
        }
        return grown;
    }

    /// <summary>Keeps the batch rows <paramref name="rows"/> in that order (beam search reordering).</summary>
    public void SelectRows(Tensor rows)
    {
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = Replace(keys[i], rows);
            values[i] = Replace(values[i], rows);
        }
    }

    private static Tensor? Replace(Tensor? t, Tensor rows)
    {
        if (t is null) return null;
        var selected = t.index_select(0, rows.to(t.device));
        selected.DetachFromDisposeScope();
        t.Dispose();
        return selected;
    }

    public void Dispose()
    {
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i]?.Dispose();
            values[i]?.Dispose();
            keys[i] = values[i] = null;
        }
    }
}
