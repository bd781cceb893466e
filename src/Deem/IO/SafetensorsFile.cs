using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>One tensor's header entry: dtype, shape and byte range inside the data section.</summary>
public sealed record SafetensorsEntry(string Name, string DtypeName, ScalarType Dtype, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
    public TensorSpec Spec => new(Dtype, Shape);
}

/// <summary>
/// Lazy reader of one <c>.safetensors</c> file (format: huggingface/safetensors README "Format";
/// validation follows <c>Metadata::validate</c> in <c>safetensors/src/tensor.rs</c>):
/// 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
/// <c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c>,
/// then the raw little-endian, C-ordered tensor bytes; offsets count from the byte after the header.
/// Opening reads and validates only the header; <see cref="Load"/> reads one tensor's bytes straight
/// from the file into a tensor of exactly that size (no managed copy of the data).
/// Every malformation is a <see cref="DeemFormatException"/> naming the file and the tensor.
/// </summary>
public sealed class SafetensorsFile : ICheckpointReader
{
    /// <summary>Header size limit of the reference implementation (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Bytes copied per read call; keeps each read well under the 2 GiB span limit.</summary>
    const long ChunkBytes = 64L << 20;

    readonly SafeFileHandle _handle;
    readonly Dictionary<string, SafetensorsEntry> _entries;

    SafetensorsFile(string path, SafeFileHandle handle, long dataStart, Dictionary<string, SafetensorsEntry> entries,
        Dictionary<string, string>? metadata)
    {
        Path = path;
        _handle = handle;
        DataStart = dataStart;
        _entries = entries;
        Metadata = metadata;
        Keys = entries.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
    }

    public string Path { get; }
    public IReadOnlyList<string> Keys { get; }

    /// <summary>The <c>__metadata__</c> map, or null when the header has none.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; }

    /// <summary>File offset of the data section (8 + header length).</summary>
    public long DataStart { get; }

    /// <summary>Header entries by tensor name.</summary>
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries => _entries;

    public bool Contains(string key) => _entries.ContainsKey(key);
    public TensorSpec Spec(string key) => Entry(key).Spec;

    /// <summary>The header entry of <paramref name="key"/>.</summary>
    public SafetensorsEntry Entry(string key) => _entries.TryGetValue(key, out var e)
        ? e
        : throw new DeemFormatException(Path, "no such tensor in this safetensors file", key);

    /// <summary>Opens <paramref name="path"/> and validates its header; the data is read lazily.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "safetensors file not found");
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8)
                throw new DeemFormatException(path, $"file is {fileLength} bytes, shorter than the 8-byte header length");
            Span<byte> lenBytes = stackalloc byte[8];
            ReadExactly(handle, lenBytes, 0, path);
            ulong n = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            if (n > (ulong)MaxHeaderBytes)
                throw new DeemFormatException(path, $"header length {n} exceeds the {MaxHeaderBytes}-byte limit");
            if ((long)n > fileLength - 8)
                throw new DeemFormatException(path, $"header length {n} runs past the end of the file ({fileLength} bytes)");
            var header = new byte[n];
            ReadExactly(handle, header, 8, path);
            long dataStart = 8 + (long)n;
            var (entries, metadata) = ParseHeader(path, header, fileLength - dataStart);
            return new SafetensorsFile(path, handle, dataStart, entries, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads <paramref name="key"/> into a new contiguous CPU tensor of its dtype and shape.</summary>
    public Tensor Load(string key)
    {
        var e = Entry(key);
        var t = torch.empty(e.Shape, e.Dtype, torch.CPU);
        try
        {
            ReadInto(_handle, t, DataStart + e.Begin, e.ByteLength, Path, key);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Loads every tensor (for small files and tests); the caller owns the tensors.</summary>
    public Dictionary<string, Tensor> LoadAll() => Keys.ToDictionary(k => k, Load);

    public void Dispose() => _handle.Dispose();

    /// <summary>
    /// Streams <paramref name="byteLength"/> bytes at <paramref name="fileOffset"/> into the storage of
    /// the contiguous CPU tensor <paramref name="t"/>, in chunks written straight into tensor memory.
    /// </summary>
    internal static void ReadInto(SafeFileHandle handle, Tensor t, long fileOffset, long byteLength, string file, string? key)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("checkpoint I/O assumes a little-endian machine");
        long numel = t.numel();
        if (numel == 0) return;
        long size = t.element_size();
        if (numel * size != byteLength)
            throw new DeemFormatException(file, $"byte length {byteLength} does not match {numel} elements x {size} bytes", key);
        using var flat = t.view(-1);
        long perChunk = Math.Max(1, ChunkBytes / size);
        for (long e0 = 0; e0 < numel; e0 += perChunk)
        {
            long count = Math.Min(perChunk, numel - e0);
            using var chunk = flat.narrow(0, e0, count);
            var span = chunk.bytes;
            ReadExactly(handle, span, fileOffset + e0 * size, file, key);
            // A BOOL byte other than 0 or 1 has no meaning in torch; refuse rather than guess.
            if (t.dtype == ScalarType.Bool && span.IndexOfAnyExcept((byte)0, (byte)1) is int bad and >= 0)
                throw new DeemFormatException(file, $"BOOL element {e0 + bad} holds byte {span[bad]}, not 0 or 1", key);
        }
    }

    static void ReadExactly(SafeFileHandle handle, Span<byte> dest, long offset, string file, string? key = null)
    {
        while (dest.Length > 0)
        {
            int got = RandomAccess.Read(handle, dest, offset);
            if (got <= 0) throw new DeemFormatException(file, $"unexpected end of file at byte {offset}", key);
            dest = dest[got..];
            offset += got;
        }
    }

    /// <summary>Parses and validates the JSON header against a data section of <paramref name="dataLength"/> bytes.</summary>
    internal static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>?) ParseHeader(
        string path, byte[] header, long dataLength)
    {
        JsonDocument doc;
        try
        {
            string text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(header);
            doc = JsonDocument.Parse(text);
        }
        catch (Exception ex) when (ex is JsonException or DecoderFallbackException)
        {
            throw new DeemFormatException(path, $"header is not valid UTF-8 JSON: {ex.Message}", null, ex);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new DeemFormatException(path, $"header must be a JSON object, found {doc.RootElement.ValueKind}");
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            Dictionary<string, string>? metadata = null;
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (metadata != null) throw new DeemFormatException(path, "duplicate key in header", prop.Name);
                    metadata = ParseMetadata(path, prop.Value);
                    continue;
                }
                if (entries.ContainsKey(prop.Name))
                    throw new DeemFormatException(path, "duplicate tensor name in header", prop.Name);
                entries[prop.Name] = ParseEntry(path, prop.Name, prop.Value, dataLength);
            }
            CheckContiguous(path, entries.Values, dataLength);
            return (entries, metadata);
        }
    }

    static Dictionary<string, string> ParseMetadata(string path, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Object)
            throw new DeemFormatException(path, $"__metadata__ must be an object of strings, found {v.ValueKind}", "__metadata__");
        var m = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new DeemFormatException(path, $"__metadata__ value '{p.Name}' must be a string, found {p.Value.ValueKind}", "__metadata__");
            m[p.Name] = p.Value.GetString()!;
        }
        return m;
    }

    static SafetensorsEntry ParseEntry(string path, string name, JsonElement v, long dataLength)
    {
        if (v.ValueKind != JsonValueKind.Object)
            throw new DeemFormatException(path, $"entry must be an object, found {v.ValueKind}", name);
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new DeemFormatException(path, "entry is missing the string field 'dtype'", name);
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new DeemFormatException(path, "entry is missing the array field 'shape'", name);
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new DeemFormatException(path, "entry is missing the field 'data_offsets' = [begin, end]", name);

        string dtypeName = dt.GetString()!;
        if (!SafetensorsDtype.TryParse(dtypeName, out var dtype))
            throw new DeemFormatException(path,
                $"unknown or unsupported dtype '{dtypeName}' (supported: {string.Join(", ", SafetensorsDtype.Supported)})", name);

        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim))
                throw new DeemFormatException(path, $"shape {sh.GetRawText()} holds a non-integer dimension", name);
            if (dim < 0)
                throw new DeemFormatException(path, $"shape {sh.GetRawText()} has a negative dimension {dim}", name);
            shape[i++] = dim;
        }

        long begin = OffsetAt(path, name, off, 0), end = OffsetAt(path, name, off, 1);
        if (begin > end)
            throw new DeemFormatException(path, $"data_offsets begin {begin} > end {end}", name);
        if (end > dataLength)
            throw new DeemFormatException(path, $"data_offsets [{begin}, {end}] run past the end of the data section ({dataLength} bytes)", name);

        long expected;
        try
        {
            expected = checked(shape.Aggregate(1L, (a, d) => checked(a * d)) * SafetensorsDtype.SizeOf(dtype));
        }
        catch (OverflowException)
        {
            throw new DeemFormatException(path, $"shape {sh.GetRawText()} overflows a 64-bit byte count", name);
        }
        if (expected != end - begin)
            throw new DeemFormatException(path,
                $"shape/byte mismatch: shape {sh.GetRawText()} x {dtypeName} needs {expected} bytes but data_offsets [{begin}, {end}] hold {end - begin}", name);
        return new SafetensorsEntry(name, dtypeName, dtype, shape, begin, end);
    }

    static long OffsetAt(string path, string name, JsonElement off, int index)
    {
        var v = off[index];
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x) || x < 0)
            throw new DeemFormatException(path, $"data_offsets {off.GetRawText()} must be two non-negative integers", name);
        return x;
    }

    /// <summary>
    /// The reference's <c>Metadata::validate</c> + <c>read_metadata</c>: sorted by (begin, end), every tensor
    /// starts where the previous one ended (no gap, no overlap; the first at 0), and the last ends at the end of
    /// the data section (no trailing bytes).
    /// </summary>
    static void CheckContiguous(string path, IEnumerable<SafetensorsEntry> entries, long dataLength)
    {
        long start = 0;
        string? prev = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ThenBy(e => e.Name, StringComparer.Ordinal))
        {
            if (e.Begin != start)
                throw new DeemFormatException(path, e.Begin > start
                    ? $"data_offsets [{e.Begin}, {e.End}] leave a gap of {e.Begin - start} unreferenced bytes after {(prev is null ? "the header" : $"'{prev}'")}"
                    : $"data_offsets [{e.Begin}, {e.End}] overlap those of '{prev}' (which end at {start})", e.Name);
            start = e.End;
            prev = e.Name;
        }
        if (start != dataLength)
            throw new DeemFormatException(path, $"the tensors cover {start} of the {dataLength} data bytes; the rest is unreferenced");
    }
}
