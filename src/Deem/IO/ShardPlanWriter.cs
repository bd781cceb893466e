using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>
/// Writes tensors that are read one shard at a time, in the layout of <see cref="ShardedSafetensors.Write"/>:
/// one <c>model.safetensors</c> when everything fits in the shard size, else
/// <c>model-0000k-of-0000n.safetensors</c> plus <c>model.safetensors.index.json</c> (written last). Shards are
/// planned from the tensors' specs before any is read, then each tensor is loaded, written and released in turn,
/// so at most one tensor of output is in memory (an import of a 7B checkpoint needs no second copy).
/// </summary>
public static class ShardPlanWriter
{
    /// <summary>Writes the tensors of <paramref name="plan"/> (key, stored dtype and shape), each produced by <paramref name="load"/>
    /// (the caller's new tensor, disposed here); returns the number of weight files.</summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="plan">Every key with the dtype and shape its tensor will have, in the order to pack them.</param>
    /// <param name="load">A new tensor for a key.</param>
    /// <param name="maxShardBytes">Largest shard.</param>
    /// <param name="metadata">Each file's <c>__metadata__</c> (and the index's, with <c>total_size</c>).</param>
    public static int Write(string folder, IReadOnlyList<(string Key, TensorSpec Spec)> plan, Func<string, Tensor> load, long maxShardBytes,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), "must be positive");
        var groups = new List<List<(string Key, TensorSpec Spec)>>();
        long current = 0;
        foreach (var (key, spec) in plan)
        {
            long bytes = Bytes(spec);
            if (groups.Count == 0 || (current + bytes > maxShardBytes && groups[^1].Count > 0)) { groups.Add([]); current = 0; }
            groups[^1].Add((key, spec));
            current += bytes;
        }
        Directory.CreateDirectory(folder);
        var weightMap = new JsonObject();
        for (int i = 0; i < groups.Count; i++)
        {
            string name = groups.Count == 1 ? ShardedSafetensors.SingleFileName : $"model-{i + 1:D5}-of-{groups.Count:D5}.safetensors";
            SafetensorsWriter.Write(Path.Combine(folder, name), groups[i], load, metadata);
            foreach (var (k, _) in groups[i]) weightMap[k] = name;
        }
        if (groups.Count <= 1) return groups.Count;
        var meta = new JsonObject();
        foreach (var kv in (metadata ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal)) meta[kv.Key] = kv.Value;
        meta["total_size"] = plan.Sum(p => Bytes(p.Spec));
        var index = new JsonObject { ["metadata"] = meta, ["weight_map"] = weightMap };
        AtomicFile.WriteAllText(Path.Combine(folder, ShardedSafetensors.IndexFileName), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return groups.Count;
    }

    static long Bytes(TensorSpec spec) => spec.NumElements * SafetensorsDtype.SizeOf(spec.Dtype);
}
