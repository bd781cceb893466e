using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>
/// Reads <c>torch.save</c> checkpoints in the zip format (PyTorch ≥ 1.6; <c>_save</c> and
/// <c>_load</c> in pytorch <c>torch/serialization.py</c>), such as <c>pytorch_model.bin</c> and
/// <c>open_clip_pytorch_model.bin</c>. The archive holds <c>&lt;root&gt;/data.pkl</c> (the pickled
/// object), <c>&lt;root&gt;/data/&lt;key&gt;</c> (one raw little-endian storage per key),
/// <c>&lt;root&gt;/version</c> and usually <c>&lt;root&gt;/byteorder</c>. Each tensor pickles as
/// <c>torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)</c>
/// whose storage is the persistent id <c>("storage", torch.FloatStorage, key, location, numel)</c>.
/// The state dict is an <c>OrderedDict()</c> filled by SETITEMS, or <c>OrderedDict(pairs)</c> as Python 2 and
/// other picklers write it. The pickle runs in <see cref="RestrictedUnpickler"/> with only the globals a state dict needs;
/// anything else (arbitrary code) is a <see cref="DeemFormatException"/> naming the global.
/// </summary>
public static class TorchCheckpoint
{
    /// <summary>Storage classes a state dict may reference, with their element type.</summary>
    static readonly Dictionary<string, ScalarType> StorageTypes = new()
    {
        ["FloatStorage"] = ScalarType.Float32, ["DoubleStorage"] = ScalarType.Float64,
        ["HalfStorage"] = ScalarType.Float16, ["BFloat16Storage"] = ScalarType.BFloat16,
        ["LongStorage"] = ScalarType.Int64, ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16, ["CharStorage"] = ScalarType.Int8,
        ["ByteStorage"] = ScalarType.Byte, ["BoolStorage"] = ScalarType.Bool,
    };

    static readonly HashSet<PyGlobal> Callables =
    [
        new("collections", "OrderedDict"),
        new("torch._utils", "_rebuild_tensor_v2"),
        new("torch._utils", "_rebuild_parameter"),
        new("torch._utils", "_rebuild_parameter_with_state"),
        new("torch", "Size"),
    ];

    /// <summary>True for the globals a state-dict pickle may name.</summary>
    public static bool IsAllowedGlobal(PyGlobal g) =>
        Callables.Contains(g) || (g.Module == "torch" && StorageTypes.ContainsKey(g.Name));

    /// <summary>A storage reference from a persistent id; its bytes load on first use.</summary>
    sealed record StorageRef(string Key, ScalarType Dtype, long Numel);

    /// <summary>
    /// Loads every tensor of <paramref name="path"/>. Nested dicts are flattened with '.'
    /// (<c>{"model": {"w": t}}</c> gives key <c>model.w</c>); non-tensor leaves (epoch numbers,
    /// strings, None) are skipped. Each tensor is contiguous and owns memory of its own size.
    /// </summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "checkpoint not found");
        ZipArchive zip;
        try { zip = ZipFile.OpenRead(path); }
        catch (InvalidDataException ex)
        {
            throw new DeemFormatException(path, "not a zip archive (the legacy pre-1.6 torch.save format is not supported)", null, ex);
        }
        using (zip)
        {
            try { return LoadArchive(path, zip); }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
            {
                throw new DeemFormatException(path, $"corrupt zip archive: {ex.Message.ReplaceLineEndings(" ")}", null, ex);
            }
        }
    }

    static Dictionary<string, Tensor> LoadArchive(string path, ZipArchive zip)
    {
        var pkl = zip.Entries.Where(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)
                                          && e.FullName.Count(c => c == '/') == 1).ToList();
        if (pkl.Count != 1)
            throw new DeemFormatException(path, $"expected exactly one '<root>/data.pkl' in the archive, found {pkl.Count}");
        string root = pkl[0].FullName[..^"data.pkl".Length];
        var byteorder = zip.GetEntry(root + "byteorder");
        if (byteorder != null)
        {
            using var r = new StreamReader(byteorder.Open());
            string order = r.ReadToEnd().Trim();
            if (order != "little") throw new DeemFormatException(path, $"byteorder '{order}' is not supported (only little)", "byteorder");
        }

        byte[] pickle;
        using (var s = pkl[0].Open())
        using (var ms = new MemoryStream())
        {
            s.CopyTo(ms);
            pickle = ms.ToArray();
        }

        var storages = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            var unpickler = new RestrictedUnpickler(pickle, path + ":" + pkl[0].FullName, IsAllowedGlobal,
                (fn, args) => Reduce(path, zip, root, storages, fn, args),
                pid => PersistentLoad(path, pid),
                (obj, state) => Build(path, obj, state));
            var top = unpickler.Load();
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            Flatten(path, top, "", result);
            return result;
        }
        finally
        {
            foreach (var t in storages.Values) t.Dispose();
        }
    }

    static object PersistentLoad(string path, object? pid)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage" || t[1] is not PyGlobal type
            || t[2] is not string key || t[4] is not long numel || numel < 0)
            throw new DeemFormatException(path, "persistent id is not ('storage', type, key, location, numel)");
        if (type.Module != "torch" || !StorageTypes.TryGetValue(type.Name, out var dtype))
            throw new DeemFormatException(path, $"storage type '{type}' is not supported", key);
        return new StorageRef(key, dtype, numel);
    }

    static object? Reduce(string path, ZipArchive zip, string root, Dictionary<string, Tensor> storages, PyGlobal fn, object?[] args)
    {
        switch (fn.Module, fn.Name)
        {
            case ("collections", "OrderedDict") when args.Length == 0:
                return new RestrictedUnpickler.PyDict();
            case ("collections", "OrderedDict") when args.Length == 1 && args[0] is object?[] or List<object?>:
                // OrderedDict(pairs): Python 2's OrderedDict.__reduce__ and other picklers (TorchSharp.PyBridge writes
                // the tensors' backward hooks as OrderedDict(())) pass the items instead of SETITEMS after the call.
                return OrderedDictOf(path, (IEnumerable<object?>)args[0]!);
            case ("torch", "Size") when args.Length == 1 && args[0] is object?[] dims:
                return dims;
            case ("torch._utils", "_rebuild_parameter") or ("torch._utils", "_rebuild_parameter_with_state")
                when args.Length >= 1 && args[0] is Tensor data:
                return data;
            case ("torch._utils", "_rebuild_tensor_v2") when args.Length is 6 or 7:
                return RebuildTensor(path, zip, root, storages, args);
            default:
                throw new DeemFormatException(path, $"unsupported call {fn}({args.Length} arguments)", fn.ToString());
        }
    }

    static RestrictedUnpickler.PyDict OrderedDictOf(string path, IEnumerable<object?> pairs)
    {
        var d = new RestrictedUnpickler.PyDict();
        foreach (var pair in pairs)
        {
            var kv = pair switch
            {
                object?[] { Length: 2 } t => t,
                List<object?> { Count: 2 } l => l.ToArray(),
                _ => throw new DeemFormatException(path, "OrderedDict(...) item is not a (key, value) pair"),
            };
            d[kv[0] ?? throw new DeemFormatException(path, "OrderedDict(...) item has the key None")] = kv[1];
        }
        return d;
    }

    /// <summary><c>_rebuild_tensor_v2</c>: a strided view of the storage, made contiguous and compact.</summary>
    static Tensor RebuildTensor(string path, ZipArchive zip, string root, Dictionary<string, Tensor> storages, object?[] args)
    {
        if (args[0] is not StorageRef st || args[1] is not long offset || args[2] is not object?[] sizeObj || args[3] is not object?[] strideObj)
            throw new DeemFormatException(path, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
        long[] size = Longs(path, sizeObj, st.Key), stride = Longs(path, strideObj, st.Key);
        if (size.Length != stride.Length)
            throw new DeemFormatException(path, $"size has {size.Length} dims but stride has {stride.Length}", st.Key);
        if (offset < 0 || size.Any(d => d < 0) || stride.Any(d => d < 0))
            throw new DeemFormatException(path, "negative storage offset, size or stride", st.Key);
        if (size.All(d => d > 0))
        {
            long last = offset;
            try { for (int i = 0; i < size.Length; i++) last = checked(last + (size[i] - 1) * stride[i]); }
            catch (OverflowException) { last = long.MaxValue; }
            if (last >= st.Numel)
                throw new DeemFormatException(path,
                    $"view (offset {offset}, size [{string.Join(", ", size)}], stride [{string.Join(", ", stride)}]) reaches element {last} of a {st.Numel}-element storage", st.Key);
        }

        if (!storages.TryGetValue(st.Key, out var storage))
            storages[st.Key] = storage = LoadStorage(path, zip, root, st);
        if (storage.dtype != st.Dtype)
            throw new DeemFormatException(path, $"storage is used as both {storage.dtype} and {st.Dtype}", st.Key);

        using var view = storage.as_strided(size, stride, offset);
        // Always a fresh compact copy, so a small view never pins a large storage.
        return view.is_contiguous() ? view.clone() : view.contiguous();
    }

    static long[] Longs(string path, object?[] xs, string key) =>
        xs.Select(x => x as long? ?? throw new DeemFormatException(path, "size/stride entries must be integers", key)).ToArray();

    /// <summary>Streams <c>&lt;root&gt;/data/&lt;key&gt;</c> into a 1-D tensor of the storage's dtype.</summary>
    static Tensor LoadStorage(string path, ZipArchive zip, string root, StorageRef st)
    {
        string name = root + "data/" + st.Key;
        var entry = zip.GetEntry(name) ?? throw new DeemFormatException(path, $"archive has no storage record '{name}'", st.Key);
        long elem = SafetensorsDtype.SizeOf(st.Dtype);
        if (st.Numel > long.MaxValue / elem || entry.Length != st.Numel * elem)
            throw new DeemFormatException(path, $"storage record is {entry.Length} bytes, expected {st.Numel} x {elem}", st.Key);
        var t = torch.empty(st.Numel, st.Dtype, torch.CPU);
        if (st.Numel == 0) return t;
        using var s = entry.Open();
        using var flat = t.view(-1);
        long perChunk = Math.Max(1, (64L << 20) / elem);
        for (long e0 = 0; e0 < st.Numel; e0 += perChunk)
        {
            using var chunk = flat.narrow(0, e0, Math.Min(perChunk, st.Numel - e0));
            s.ReadExactly(chunk.bytes);
        }
        return t;
    }

    static void Build(string path, object? obj, object? state)
    {
        // OrderedDict state is {'_metadata': {...}} (module versions); tensors may carry empty state.
        if (obj is RestrictedUnpickler.PyDict || obj is Tensor) return;
        throw new DeemFormatException(path, $"BUILD on unsupported object {obj?.GetType().Name ?? "None"}");
    }

    static void Flatten(string path, object? node, string prefix, Dictionary<string, Tensor> into)
    {
        if (node is Tensor single && prefix.Length == 0)
            throw new DeemFormatException(path, "checkpoint holds a single tensor, not a state dict");
        if (node is not RestrictedUnpickler.PyDict d)
            throw new DeemFormatException(path, $"top-level object is {node?.GetType().Name ?? "None"}, not a dict");
        foreach (var (k, v) in d)
        {
            if (k is not string key) continue;
            string full = prefix + key;
            if (v is Tensor t)
            {
                if (!into.TryAdd(full, t)) throw new DeemFormatException(path, "duplicate key after flattening nested dicts", full);
            }
            else if (v is RestrictedUnpickler.PyDict) Flatten(path, v, full + ".", into);
        }
    }
}
