using System.IO.MemoryMappedFiles;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>
/// A safetensors checkpoint (one file, or the shards of a <see cref="ShardedSafetensors"/> index) read through
/// memory maps: each tensor's bytes are copied from a view of its file range straight into a tensor the caller
/// already allocated, converting the dtype chunk by chunk when the file's differs (an fp32 file into a bf16
/// model never holds the fp32 tensor). A view is opened per chunk and closed after it, so the mapped pages the
/// process holds are those of one chunk at a time. Headers are validated by <see cref="SafetensorsFile"/>.
/// </summary>
public sealed class MappedSafetensors : IDisposable
{
    /// <summary>Elements copied per chunk (a 4 MiB fp32 view and staging tensor at most).</summary>
    const long ChunkElements = 1L << 20;

    readonly Dictionary<string, (SafetensorsFile Header, MemoryMappedFile Map)> _files = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> _fileOf = new(StringComparer.Ordinal);

    MappedSafetensors(string path) => Path = path;

    /// <summary>The file, index or folder opened (used in error messages).</summary>
    public string Path { get; }

    /// <summary>All tensor names, sorted ordinally.</summary>
    public IReadOnlyList<string> Keys => _fileOf.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>True when <paramref name="key"/> names a tensor here.</summary>
    public bool Contains(string key) => _fileOf.ContainsKey(key);

    /// <summary>Dtype and shape of <paramref name="key"/>.</summary>
    public TensorSpec Spec(string key) => Entry(key).Entry.Spec;

    /// <summary>
    /// Opens a <c>.safetensors</c> file, a <c>model.safetensors.index.json</c>, or a folder holding either;
    /// a torch.save checkpoint is refused (it cannot be mapped: import it first with <c>deem import</c>).
    /// </summary>
    public static MappedSafetensors Open(string fileOrFolder)
    {
        string? index = null, single = null;
        if (Directory.Exists(fileOrFolder))
        {
            string i = System.IO.Path.Combine(fileOrFolder, ShardedSafetensors.IndexFileName);
            string s = System.IO.Path.Combine(fileOrFolder, ShardedSafetensors.SingleFileName);
            if (File.Exists(i)) index = i;
            else if (File.Exists(s)) single = s;
            else throw new DeemFormatException(fileOrFolder, $"folder holds neither {ShardedSafetensors.IndexFileName} nor {ShardedSafetensors.SingleFileName}");
        }
        else if (fileOrFolder.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) index = fileOrFolder;
        else if (fileOrFolder.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) single = fileOrFolder;
        else throw new DeemFormatException(fileOrFolder, "only safetensors checkpoints can be memory-mapped (convert with deem import)");

        var mapped = new MappedSafetensors(fileOrFolder);
        try
        {
            if (single is not null) mapped.Add(single, null);
            else
            {
                string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(index!))!;
                using var sharded = ShardedSafetensors.Open(index!);          // validates the index against every shard
                foreach (var shard in sharded.WeightMap.Values.Distinct().Order(StringComparer.Ordinal))
                    mapped.Add(System.IO.Path.Combine(folder, shard), shard);
            }
            return mapped;
        }
        catch
        {
            mapped.Dispose();
            throw;
        }
    }

    void Add(string file, string? name)
    {
        var header = SafetensorsFile.Open(file);
        try
        {
            long length = new FileInfo(file).Length;
            // An empty data section cannot be mapped; such a file holds only empty tensors.
            var map = length > header.DataStart
                ? MemoryMappedFile.CreateFromFile(file, FileMode.Open, null, 0, MemoryMappedFileAccess.Read)
                : null;
            _files[name ?? file] = (header, map!);
            foreach (var k in header.Keys) _fileOf[k] = name ?? file;
        }
        catch
        {
            header.Dispose();
            throw;
        }
    }

    (SafetensorsFile File, MemoryMappedFile Map, SafetensorsEntry Entry) Entry(string key)
    {
        if (!_fileOf.TryGetValue(key, out var f)) throw new DeemFormatException(Path, "no such tensor in the checkpoint", key);
        var (header, map) = _files[f];
        return (header, map, header.Entry(key));
    }

    /// <summary>
    /// Copies <paramref name="key"/> into <paramref name="dst"/> (same shape, any floating dtype if the file's is
    /// floating, any device), in chunks of at most <see cref="ChunkElements"/> elements. Same dtype on the CPU:
    /// the bytes go from the mapped view straight into <paramref name="dst"/>'s storage; otherwise each chunk goes
    /// through a staging tensor of the file's dtype and is converted by <c>copy_</c>.
    /// </summary>
    public void CopyInto(string key, Tensor dst)
    {
        var (header, map, e) = Entry(key);
        if (!e.Shape.SequenceEqual(dst.shape))
            throw new DeemFormatException(header.Path, $"shape {e.Spec.ShapeText} does not fit the module's [{string.Join(", ", dst.shape)}]", key);
        if (e.Dtype != dst.dtype && !(IsFloating(e.Dtype) && IsFloating(dst.dtype)))
            throw new DeemFormatException(header.Path, $"dtype {e.DtypeName} cannot be converted to the module's {dst.dtype}", key);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("checkpoint I/O assumes a little-endian machine");
        long numel = e.Spec.NumElements;
        if (numel == 0) return;
        if (!dst.is_contiguous()) throw new ArgumentException($"{key}: the destination must be contiguous", nameof(dst));

        long size = SafetensorsDtype.SizeOf(e.Dtype);
        bool direct = e.Dtype == dst.dtype && dst.device_type == DeviceType.CPU;
        using var flat = dst.view(-1);
        using var staging = direct ? null : empty(Math.Min(ChunkElements, numel), e.Dtype, CPU);
        using (no_grad())
            for (long e0 = 0; e0 < numel; e0 += ChunkElements)
            {
                long count = Math.Min(ChunkElements, numel - e0);
                using var view = map.CreateViewAccessor(header.DataStart + e.Begin + e0 * size, count * size, MemoryMappedFileAccess.Read);
                ulong start = (ulong)view.PointerOffset;                   // the view begins at the page holding the chunk
                using var target = flat.narrow(0, e0, count);
                if (direct) view.SafeMemoryMappedViewHandle.ReadSpan(start, target.bytes);
                else
                {
                    using var chunk = staging!.narrow(0, 0, count);
                    view.SafeMemoryMappedViewHandle.ReadSpan(start, chunk.bytes);
                    target.copy_(chunk);                                   // the dtype conversion, and the move to the device
                }
            }
    }

    static bool IsFloating(ScalarType t) => t is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64;

    public void Dispose()
    {
        foreach (var (header, map) in _files.Values)
        {
            map?.Dispose();
            header.Dispose();
        }
        _files.Clear();
        _fileOf.Clear();
    }
}
