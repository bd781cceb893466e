using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>
/// A checkpoint split over several safetensors files, as HF transformers writes it
/// (<c>save_pretrained</c> with <c>max_shard_size</c>; huggingface/transformers
/// <c>modeling_utils.py</c>, constant <c>SAFE_WEIGHTS_INDEX_NAME</c>): shards named
/// <c>model-00001-of-00002.safetensors</c> and an index <c>model.safetensors.index.json</c> =
/// <c>{"metadata": {"total_size": bytes, ...}, "weight_map": {"tensor": "shard file"}}</c>.
/// Opening reads the index and every shard's header (not the data); tensors load on demand.
/// </summary>
public sealed class ShardedSafetensors : ICheckpointReader
{
    /// <summary>The index file name HF uses.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>The single-file name HF uses when a checkpoint fits one shard.</summary>
    public const string SingleFileName = "model.safetensors";

    readonly Dictionary<string, SafetensorsFile> _shards;
    readonly Dictionary<string, string> _weightMap;

    ShardedSafetensors(string path, Dictionary<string, SafetensorsFile> shards, Dictionary<string, string> weightMap,
        Dictionary<string, JsonNode?> metadata)
    {
        Path = path;
        _shards = shards;
        _weightMap = weightMap;
        IndexMetadata = metadata;
        Keys = weightMap.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The index file.</summary>
    public string Path { get; }
    public IReadOnlyList<string> Keys { get; }

    /// <summary>The index's <c>"metadata"</c> object (values as JSON: <c>total_size</c> is a number).</summary>
    public IReadOnlyDictionary<string, JsonNode?> IndexMetadata { get; }

    /// <summary>Tensor name → shard file name, as listed in the index.</summary>
    public IReadOnlyDictionary<string, string> WeightMap => _weightMap;

    public bool Contains(string key) => _weightMap.ContainsKey(key);
    public TensorSpec Spec(string key) => ShardOf(key).Spec(key);
    public Tensor Load(string key) => ShardOf(key).Load(key);

    SafetensorsFile ShardOf(string key) => _weightMap.TryGetValue(key, out var shard)
        ? _shards[shard]
        : throw new DeemFormatException(Path, "tensor not listed in the index weight_map", key);

    public void Dispose()
    {
        foreach (var s in _shards.Values) s.Dispose();
        _shards.Clear();
    }

    /// <summary>
    /// Opens a sharded checkpoint from its index file (or the folder holding <see cref="IndexFileName"/>).
    /// Fails on a malformed index, a duplicate key, a shard that is missing or outside the folder, a listed
    /// tensor that its shard does not hold, or a tensor a shard holds that the index does not list there.
    /// </summary>
    public static ShardedSafetensors Open(string indexPathOrFolder)
    {
        string indexPath = Directory.Exists(indexPathOrFolder)
            ? System.IO.Path.Combine(indexPathOrFolder, IndexFileName)
            : indexPathOrFolder;
        if (!File.Exists(indexPath)) throw new DeemFormatException(indexPath, "index file not found");
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;

        JsonNode? root;
        try
        {
            byte[] bytes = File.ReadAllBytes(indexPath);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new DeemFormatException(indexPath, "index is not valid UTF-8");
            using (var doc = JsonDocument.Parse(bytes))
                if (FirstDuplicateKey(doc.RootElement, "") is { } dup)
                    throw new DeemFormatException(indexPath, "duplicate key in the index (a tensor may be listed once only)", dup);
            root = JsonNode.Parse(bytes);
        }
        catch (JsonException ex) { throw new DeemFormatException(indexPath, $"index is not valid JSON: {ex.Message}", null, ex); }
        if (root is not JsonObject obj) throw new DeemFormatException(indexPath, "index must be a JSON object");
        if (obj["weight_map"] is not JsonObject wm)
            throw new DeemFormatException(indexPath, "index has no object field 'weight_map'", "weight_map");
        var metadata = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (obj["metadata"] is JsonObject meta)
            foreach (var kv in meta) metadata[kv.Key] = kv.Value?.DeepClone();
        else if (obj["metadata"] is not null)
            throw new DeemFormatException(indexPath, "index field 'metadata' must be an object", "metadata");

        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in wm)
        {
            if (kv.Value is not JsonValue v || !v.TryGetValue(out string? shard) || string.IsNullOrEmpty(shard))
                throw new DeemFormatException(indexPath, "weight_map value must be a shard file name", kv.Key);
            if (shard != System.IO.Path.GetFileName(shard))
                throw new DeemFormatException(indexPath, $"shard '{shard}' must be a plain file name in the index's folder", kv.Key);
            weightMap[kv.Key] = shard;
        }

        var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var (key, shard) in weightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (!shards.TryGetValue(shard, out var file))
                {
                    string shardPath = System.IO.Path.Combine(folder, shard);
                    if (!File.Exists(shardPath))
                        throw new DeemFormatException(indexPath, $"weight_map names shard '{shard}', which does not exist", key);
                    shards[shard] = file = SafetensorsFile.Open(shardPath);
                }
                if (!file.Contains(key))
                    throw new DeemFormatException(indexPath, $"weight_map puts the tensor in '{shard}', which does not hold it", key);
            }
            // The converse: a tensor a shard holds but the index does not list (or lists in another shard).
            foreach (var (shard, file) in shards.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                foreach (var key in file.Keys)
                    if (weightMap.GetValueOrDefault(key) != shard)
                        throw new DeemFormatException(indexPath, $"shard '{shard}' holds a tensor that the weight_map does not list there", key);
        }
        catch
        {
            foreach (var s in shards.Values) s.Dispose();
            throw;
        }
        return new ShardedSafetensors(indexPath, shards, weightMap, metadata);
    }

    /// <summary>The path ("weight_map.w") of the first key that appears twice in one JSON object, or null.</summary>
    static string? FirstDuplicateKey(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Array)
            return e.EnumerateArray().Select((x, i) => FirstDuplicateKey(x, $"{path}[{i}]")).FirstOrDefault(d => d is not null);
        if (e.ValueKind != JsonValueKind.Object) return null;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            string at = path.Length == 0 ? p.Name : $"{path}.{p.Name}";
            if (!names.Add(p.Name)) return at;
            if (FirstDuplicateKey(p.Value, at) is { } inner) return inner;
        }
        return null;
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> into <paramref name="folder"/>: one <see cref="SingleFileName"/>
    /// when everything fits in <paramref name="maxShardBytes"/>, else numbered shards plus the index.
    /// Tensors are packed greedily in ordinal name order; a tensor larger than the limit gets a shard
    /// of its own. Each shard carries <paramref name="metadata"/> as <c>__metadata__</c>; the index
    /// carries it plus <c>total_size</c>. The index is written last, so it never names a missing shard.
    /// </summary>
    /// <returns>The shard file names written, in order.</returns>
    public static IReadOnlyList<string> Write(string folder, IReadOnlyDictionary<string, Tensor> tensors,
        long maxShardBytes, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), "must be positive");
        var groups = new List<List<string>>();
        long current = 0;
        foreach (var key in tensors.Keys.OrderBy(k => k, StringComparer.Ordinal))
        {
            long n = SafetensorsWriter.ByteSize(tensors[key]);
            if (groups.Count == 0 || (current + n > maxShardBytes && groups[^1].Count > 0))
            {
                groups.Add([]);
                current = 0;
            }
            groups[^1].Add(key);
            current += n;
        }
        Directory.CreateDirectory(folder);
        if (groups.Count <= 1)
        {
            SafetensorsWriter.Write(System.IO.Path.Combine(folder, SingleFileName), tensors, metadata);
            return [SingleFileName];
        }

        var names = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < groups.Count; i++)
        {
            string name = $"model-{i + 1:D5}-of-{groups.Count:D5}.safetensors";
            var part = groups[i].ToDictionary(k => k, k => tensors[k]);
            SafetensorsWriter.Write(System.IO.Path.Combine(folder, name), part, metadata);
            foreach (var k in groups[i]) weightMap[k] = name;
            names.Add(name);
        }

        var meta = new JsonObject();
        if (metadata != null)
            foreach (var kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) meta[kv.Key] = kv.Value;
        meta["total_size"] = tensors.Values.Sum(SafetensorsWriter.ByteSize);
        var wmJson = new JsonObject();
        foreach (var kv in weightMap) wmJson[kv.Key] = kv.Value;
        var index = new JsonObject { ["metadata"] = meta, ["weight_map"] = wmJson };
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, IndexFileName),
            index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return names;
    }
}
