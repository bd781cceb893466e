using Deem.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diagnostics.Fuzz;

/// <summary>Deterministic seed tensors (no RNG): several dtypes, a scalar and an empty tensor.</summary>
internal static class FuzzTensors
{
    public static Dictionary<string, Tensor> StateDict(int variant) => new(StringComparer.Ordinal)
    {
        ["embed.weight"] = torch.arange(12, dtype: ScalarType.Float32).add_(variant).div_(7f).reshape(3, 4), // [3, 4]
        ["layers.0.bias"] = torch.arange(4, dtype: ScalarType.Float16),
        ["layers.0.scale"] = torch.tensor(1.5f + variant).to(ScalarType.BFloat16),           // []
        ["pos"] = torch.arange(5, dtype: ScalarType.Int64),
        ["mask"] = torch.tensor(new[] { true, false, variant % 2 == 0 }),
        ["empty"] = torch.zeros(0, 2),
    };

    /// <summary>Same keys, dtypes, shapes and bytes.</summary>
    public static bool Same(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var t) && Same(kv.Value, t));

    public static bool Same(Tensor a, Tensor b) =>
        a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && Bytes(a).SequenceEqual(Bytes(b));

    public static byte[] Bytes(Tensor t)
    {
        using var c = t.contiguous();
        return c.numel() == 0 ? [] : c.bytes.ToArray();
    }

    public static void Dispose(IEnumerable<Tensor> ts) { foreach (var t in ts) t.Dispose(); }
}

/// <summary>
/// <c>.safetensors</c> files through <see cref="SafetensorsFile"/>. Oracle for an accepted file: every tensor's
/// bytes equal the file's bytes at its data_offsets, and writing the loaded tensors back and reading them
/// again gives the same tensors.
/// </summary>
public sealed class SafetensorsFuzzTarget : FuzzTarget
{
    public override string Name => "safetensors";
    public override IReadOnlyList<byte[]> Seeds { get; }

    public SafetensorsFuzzTarget()
    {
        Seeds = Enumerable.Range(0, 3).Select(v =>
        {
            var sd = FuzzTensors.StateDict(v);
            string p = Path.Combine(Scratch, $"seed{v}.safetensors");
            SafetensorsWriter.Write(p, sd, v == 0 ? null : new Dictionary<string, string> { ["format"] = "pt" });
            FuzzTensors.Dispose(sd.Values);
            return File.ReadAllBytes(p);
        }).ToArray();
    }

    public override bool Check(byte[] input)
    {
        string path = Path.Combine(Scratch, "case.safetensors"), back = Path.Combine(Scratch, "back.safetensors");
        File.WriteAllBytes(path, input);
        Dictionary<string, Tensor> loaded;
        using (var f = SafetensorsFile.Open(path))
        {
            loaded = f.LoadAll();
            try
            {
                foreach (var (k, t) in loaded)
                {
                    var e = f.Entry(k);
                    if (!FuzzTensors.Bytes(t).AsSpan().SequenceEqual(input.AsSpan((int)(f.DataStart + e.Begin), (int)e.ByteLength))
                        || !t.shape.SequenceEqual(e.Shape) || t.dtype != e.Dtype) return false;
                }
                SafetensorsWriter.Write(back, loaded, f.Metadata);
            }
            catch { FuzzTensors.Dispose(loaded.Values); throw; }
        }
        using var again = SafetensorsFile.Open(back);
        var reread = again.LoadAll();
        bool same = FuzzTensors.Same(loaded, reread);
        FuzzTensors.Dispose(loaded.Values);
        FuzzTensors.Dispose(reread.Values);
        return same;
    }
}

/// <summary>
/// <c>torch.save</c> zip archives through <see cref="TorchCheckpoint.Load"/> (the restricted unpickler and the
/// storage reader). Oracle for an accepted archive: writing the loaded state dict back with
/// <see cref="TorchCheckpointWriter"/> and loading it again gives the same tensors.
/// </summary>
public sealed class TorchZipFuzzTarget : FuzzTarget
{
    public override string Name => "zip-pickle";
    public override IReadOnlyList<byte[]> Seeds { get; }

    public TorchZipFuzzTarget()
    {
        Seeds = Enumerable.Range(0, 3).Select(v =>
        {
            var sd = FuzzTensors.StateDict(v);
            var bytes = TorchCheckpointWriter.ToBytes(sd, compress: v == 2);
            FuzzTensors.Dispose(sd.Values);
            return bytes;
        }).ToArray();
    }

    public override bool Check(byte[] input)
    {
        string path = Path.Combine(Scratch, "case.bin"), back = Path.Combine(Scratch, "back.bin");
        File.WriteAllBytes(path, input);
        var loaded = TorchCheckpoint.Load(path);
        try
        {
            File.WriteAllBytes(back, TorchCheckpointWriter.ToBytes(loaded));
            var reread = TorchCheckpoint.Load(back);
            bool same = FuzzTensors.Same(loaded, reread);
            FuzzTensors.Dispose(reread.Values);
            return same;
        }
        finally { FuzzTensors.Dispose(loaded.Values); }
    }
}

/// <summary>
/// <c>model.safetensors.index.json</c> through <see cref="ShardedSafetensors.Open"/>, beside fixed valid
/// shards. Oracle for an accepted index: it lists exactly the shards' tensors, and each loads equal to the
/// tensor written.
/// </summary>
public sealed class ShardedIndexFuzzTarget : FuzzTarget
{
    readonly Dictionary<string, Tensor> _tensors = FuzzTensors.StateDict(0);
    public override string Name => "index";
    public override IReadOnlyList<byte[]> Seeds { get; }

    public ShardedIndexFuzzTarget()
    {
        ShardedSafetensors.Write(Scratch, _tensors, maxShardBytes: 40, new Dictionary<string, string> { ["format"] = "pt" });
        string index = Path.Combine(Scratch, ShardedSafetensors.IndexFileName);
        Seeds = [File.ReadAllBytes(index), System.Text.Encoding.UTF8.GetBytes(File.ReadAllText(index).ReplaceLineEndings("").Replace(" ", ""))];
    }

    public override bool Check(byte[] input)
    {
        string index = Path.Combine(Scratch, ShardedSafetensors.IndexFileName);
        File.WriteAllBytes(index, input);
        using var ck = ShardedSafetensors.Open(index);
        if (!ck.Keys.OrderBy(k => k, StringComparer.Ordinal).SequenceEqual(_tensors.Keys.OrderBy(k => k, StringComparer.Ordinal))) return false;
        foreach (var k in ck.Keys)
        {
            using var t = ck.Load(k);
            if (!FuzzTensors.Same(t, _tensors[k])) return false;
        }
        return true;
    }
}

/// <summary>
/// The pickle inside a <c>torch.save</c> archive: the input is <c>data.pkl</c>, zipped with a valid seed's
/// storages before <see cref="TorchCheckpoint.Load"/>, so mutations reach the restricted unpickler instead of
/// stopping at the zip's checksums. Same oracle as <see cref="TorchZipFuzzTarget"/>.
/// </summary>
public sealed class TorchPickleFuzzTarget : FuzzTarget
{
    readonly Dictionary<string, byte[]> _entries = new(StringComparer.Ordinal);
    public override string Name => "pickle";
    public override IReadOnlyList<byte[]> Seeds { get; }

    public TorchPickleFuzzTarget()
    {
        var pickles = new List<byte[]>();
        for (int v = 0; v < 2; v++)
        {
            var sd = FuzzTensors.StateDict(v);
            using var zip = new System.IO.Compression.ZipArchive(new MemoryStream(TorchCheckpointWriter.ToBytes(sd)));
            FuzzTensors.Dispose(sd.Values);
            foreach (var e in zip.Entries)
            {
                using var s = e.Open();
                using var ms = new MemoryStream();
                s.CopyTo(ms);
                if (e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)) pickles.Add(ms.ToArray());
                else if (v == 0) _entries[e.FullName] = ms.ToArray();
            }
        }
        Seeds = pickles;
    }

    public override bool Check(byte[] input)
    {
        string path = Path.Combine(Scratch, "case.bin"), back = Path.Combine(Scratch, "back.bin");
        using (var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Create))
        {
            foreach (var (name, bytes) in _entries.Prepend(new("archive/data.pkl", input)))
            {
                using var s = zip.CreateEntry(name, System.IO.Compression.CompressionLevel.NoCompression).Open();
                s.Write(bytes);
            }
        }
        try
        {
            var loaded = TorchCheckpoint.Load(path);
            try
            {
                File.WriteAllBytes(back, TorchCheckpointWriter.ToBytes(loaded));
                var reread = TorchCheckpoint.Load(back);
                bool same = FuzzTensors.Same(loaded, reread);
                FuzzTensors.Dispose(reread.Values);
                return same;
            }
            finally { FuzzTensors.Dispose(loaded.Values); }
        }
        finally { File.Delete(path); }
    }
}
