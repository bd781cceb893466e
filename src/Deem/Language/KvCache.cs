using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// Keys and values of every decoder layer's self-attention from earlier steps (reference §4.1:
/// incremental decoding). Layer i's K/V [B, nKV, P, hD] (after RoPE, before the GQA repeat) grow by
/// the new tokens each step. The cache owns its tensors: they live outside dispose scopes until the
/// cache is disposed or the entry is replaced.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] keys;
    private readonly Tensor?[] values;

    public KvCache(int numLayers)
    {
        keys = new Tensor?[numLayers];
        values = new Tensor?[numLayers];
    }

    /// <summary>Number of layers the cache holds.</summary>
    public int NumLayers => keys.Length;

    /// <summary>Number of cached positions (P), read from layer 0.</summary>
    public long Length => keys[0]?.shape[2] ?? 0;

    /// <summary>
    /// Appends this step's k, v [B, nKV, L, hD] to layer <paramref name="layer"/> and returns the whole
    /// [B, nKV, P+L, hD] for this step's attention (the new part keeps its autograd history; the stored
    /// copy is detached).
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        var oldK = keys[layer];
        var oldV = values[layer];
        var fullK = oldK is null ? k.alias() : cat([oldK, k], dim: 2);   // [B, nKV, P+L, hD]
        var fullV = oldV is null ? v.alias() : cat([oldV, v], dim: 2);   // [B, nKV, P+L, hD]
        var storedK = fullK.detach();   // shares storage; outlives this step's scope
        var storedV = fullV.detach();
        storedK.DetachFromDisposeScope();
        storedV.DetachFromDisposeScope();
        oldK?.Dispose();
        oldV?.Dispose();
        keys[layer] = storedK;
        values[layer] = storedV;
        return (fullK, fullV);
    }

    /// <summary>Keeps the batch rows <paramref name="rows"/> (e.g. the surviving beams), in that order.</summary>
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
