using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>
/// A sharded <c>torch.save</c> checkpoint: <c>pytorch_model.bin.index.json</c> (<c>weight_map</c>: key → shard
/// file) beside <c>pytorch_model-0000k-of-0000n.bin</c> shards, the layout HF <c>save_pretrained</c> writes
/// without safetensors. A torch zip cannot be read one tensor at a time, so one shard at a time is held in
/// memory: the one holding the last key asked for (read keys grouped by shard, see <see cref="KeysByShard"/>).
/// </summary>
public sealed class ShardedTorchCheckpoint : ICheckpointReader
{
    /// <summary>The index file name HF writes.</summary>
    public const string IndexFileName = "pytorch_model.bin.index.json";

    readonly string _folder;
    readonly Dictionary<string, string> _weightMap;
    readonly Dictionary<string, TensorSpec> _specs = new(StringComparer.Ordinal);
    string? _shardName;
    Dictionary<string, Tensor>? _shard;

    ShardedTorchCheckpoint(string indexPath, string folder, Dictionary<string, string> weightMap)
    {
        (Path, _folder, _weightMap) = (indexPath, folder, weightMap);
        Keys = weightMap.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
    }

    public string Path { get; }
    public IReadOnlyList<string> Keys { get; }

    /// <summary>The keys in shard order (shard file name, then key), so each shard is read once.</summary>
    public IEnumerable<string> KeysByShard => _weightMap.OrderBy(kv => kv.Value, StringComparer.Ordinal)
        .ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key);

    public bool Contains(string key) => _weightMap.ContainsKey(key);
    /// <summary>Dtype and shape; known without reading once the key's shard has been read (see <see cref="ReadSpecs"/>).</summary>
    public TensorSpec Spec(string key) => _specs.TryGetValue(key, out var s) ? s : new TensorSpec(Get(key).dtype, Get(key).shape);

    /// <summary>Reads every shard once, in order, so every <see cref="Spec"/> is known without reading again.</summary>
    public void ReadSpecs()
    {
        foreach (var k in KeysByShard) _ = Spec(k);
    }
    public Tensor Load(string key) => Get(key).clone();

    Tensor Get(string key)
    {
        if (!_weightMap.TryGetValue(key, out var shard)) throw new DeemFormatException(Path, "no such tensor", key);
        if (shard != _shardName)
        {
            DisposeShard();
            string shardPath = System.IO.Path.Combine(_folder, shard);
            if (!File.Exists(shardPath)) throw new DeemFormatException(Path, $"weight_map names shard '{shard}', which does not exist", key);
            _shard = TorchCheckpoint.Load(shardPath);
            _shardName = shard;
            foreach (var (k, v) in _shard) _specs.TryAdd(k, new TensorSpec(v.dtype, v.shape));
        }
        return _shard!.TryGetValue(key, out var t) ? t
            : throw new DeemFormatException(Path, $"weight_map puts the tensor in '{shard}', which does not hold it", key);
    }

    void DisposeShard()
    {
        if (_shard is not null) foreach (var t in _shard.Values) t.Dispose();
        (_shard, _shardName) = (null, null);
    }

    public void Dispose() => DisposeShard();

    /// <summary>Opens the index (or the folder holding <see cref="IndexFileName"/>); shards are read on demand.</summary>
    public static ShardedTorchCheckpoint Open(string indexPathOrFolder)
    {
        string indexPath = Directory.Exists(indexPathOrFolder) ? System.IO.Path.Combine(indexPathOrFolder, IndexFileName) : indexPathOrFolder;
        if (!File.Exists(indexPath)) throw new DeemFormatException(indexPath, "index file not found");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(indexPath)); }
        catch (JsonException e) { throw new DeemFormatException(indexPath, $"index is not valid JSON: {e.Message}", null, e); }
        if (root?["weight_map"] is not JsonObject wm) throw new DeemFormatException(indexPath, "index has no object field 'weight_map'", "weight_map");
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in wm)
        {
            if (value is not JsonValue v || !v.TryGetValue(out string? shard) || string.IsNullOrEmpty(shard) || shard != System.IO.Path.GetFileName(shard))
                throw new DeemFormatException(indexPath, "weight_map value must be a shard file name in the index's folder", key);
            map[key] = shard;
        }
        return new ShardedTorchCheckpoint(indexPath, System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!, map);
    }
}
