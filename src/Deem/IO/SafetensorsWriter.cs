using System.Buffers.Binary;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>
/// Writes <c>.safetensors</c> files byte-for-byte as the reference library does
/// (<c>prepare</c>/<c>serialize</c> in huggingface/safetensors <c>safetensors/src/tensor.rs</c>):
/// tensors ordered by descending dtype alignment, then by name; a compact JSON header with
/// <c>__metadata__</c> first (its keys sorted here, the reference leaves them in hash order) and
/// then one entry per tensor in data order; the header padded with spaces to a multiple of 8 so
/// every tensor starts 8-byte aligned; then the raw little-endian bytes. The file appears
/// atomically (<see cref="AtomicFile"/>), and tensor data is streamed in chunks, never gathered
/// into one managed buffer.
/// </summary>
public static class SafetensorsWriter
{
    const long ChunkBytes = 64L << 20;

    /// <summary>The file's first bytes: the header's length (u64, little-endian), then the JSON header.</summary>
    static void WriteHeader(Stream s, byte[] header)
    {
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        s.Write(len);
        s.Write(header);
    }

    /// <summary>Writes <paramref name="tensors"/> (any device, any layout) and optional metadata to <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = Order(tensors);
        byte[] header = BuildHeader(ordered, metadata);
        AtomicFile.Write(path, s =>
        {
            WriteHeader(s, header);
            foreach (var (_, t) in ordered) WriteData(s, t);
        });
    }

    /// <summary>
    /// Writes tensors known by their specs, each made by <paramref name="load"/> only when its turn comes and disposed
    /// right after: at most one tensor of the file is in memory (a multi-GB shard never is). Ordered by descending
    /// dtype alignment as the reference writer does, then in the order given (not by name: a sharded <c>.bin</c>
    /// source is read shard by shard), so the file is the reference's when the specs come sorted by name.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="specs">Every tensor's name, dtype and shape.</param>
    /// <param name="load">A new tensor of that spec for a name (the caller's; disposed here).</param>
    /// <param name="metadata">The <c>__metadata__</c> map.</param>
    public static void Write(string path, IReadOnlyList<(string Name, TensorSpec Spec)> specs, Func<string, Tensor> load,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = specs.OrderByDescending(p => SafetensorsDtype.AlignmentRank(p.Spec.Dtype)).ToList();   // stable: the given order within a dtype
        byte[] header = BuildHeader(ordered, metadata);
        AtomicFile.Write(path, s =>
        {
            WriteHeader(s, header);
            foreach (var (name, spec) in ordered)
            {
                using var t = load(name);
                if (t.dtype != spec.Dtype || !t.shape.SequenceEqual(spec.Shape))
                    throw new InvalidOperationException($"{name}: made {t.dtype} [{string.Join(", ", t.shape)}], planned {spec.Dtype} {spec.ShapeText}");
                WriteData(s, t);
            }
        });
    }

    /// <summary>Bytes <paramref name="t"/> occupies in the data section.</summary>
    public static long ByteSize(Tensor t) => t.numel() * SafetensorsDtype.SizeOf(t.dtype);

    /// <summary>The writer's tensor order: descending dtype alignment rank, then ordinal name.</summary>
    public static List<(string Name, Tensor Tensor)> Order(IReadOnlyDictionary<string, Tensor> tensors) =>
        tensors.Select(kv => (kv.Key, kv.Value))
            .OrderByDescending(p => SafetensorsDtype.AlignmentRank(p.Value.dtype))
            .ThenBy(p => p.Key, StringComparer.Ordinal)
            .ToList();

    /// <summary>The padded JSON header for tensors already in writing order.</summary>
    public static byte[] BuildHeader(IReadOnlyList<(string Name, Tensor Tensor)> ordered,
        IReadOnlyDictionary<string, string>? metadata) =>
        BuildHeader(ordered.Select(p => (p.Name, new TensorSpec(p.Tensor.dtype, p.Tensor.shape))).ToList(), metadata);

    /// <summary>The padded JSON header for tensor specs already in writing order.</summary>
    public static byte[] BuildHeader(IReadOnlyList<(string Name, TensorSpec Spec)> ordered,
        IReadOnlyDictionary<string, string>? metadata)
    {
        var sb = new StringBuilder("{");
        bool first = true;
        if (metadata != null)
        {
            sb.Append("\"__metadata__\":{");
            bool firstMeta = true;
            foreach (var kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (!firstMeta) sb.Append(',');
                firstMeta = false;
                AppendString(sb, kv.Key);
                sb.Append(':');
                AppendString(sb, kv.Value);
            }
            sb.Append('}');
            first = false;
        }
        long offset = 0;
        foreach (var (name, t) in ordered)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor");
            long n = t.NumElements * SafetensorsDtype.SizeOf(t.Dtype);
            if (!first) sb.Append(',');
            first = false;
            AppendString(sb, name);
            sb.Append(":{\"dtype\":\"").Append(SafetensorsDtype.NameOf(t.Dtype)).Append("\",\"shape\":[");
            sb.Append(string.Join(",", t.Shape)).Append("],\"data_offsets\":[");
            sb.Append(offset).Append(',').Append(offset + n).Append("]}");
            offset += n;
        }
        sb.Append('}');
        var bytes = Encoding.UTF8.GetBytes(sb.ToString());
        int pad = (8 - bytes.Length % 8) % 8;
        if (pad == 0) return bytes;
        var padded = new byte[bytes.Length + pad];
        bytes.CopyTo(padded, 0);
        padded.AsSpan(bytes.Length).Fill((byte)' ');
        return padded;
    }

    /// <summary>JSON string as serde_json writes it: escapes quote, backslash and control characters only.</summary>
    static void AppendString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\u00").Append(((int)c).ToString("x2"));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>Streams the C-ordered little-endian bytes of <paramref name="t"/> in bounded chunks.</summary>
    internal static void WriteData(Stream s, Tensor t)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("checkpoint I/O assumes a little-endian machine");
        long numel = t.numel();
        if (numel == 0) return;
        using var scope = torch.NewDisposeScope();
        var flat = t.detach().cpu().contiguous().view(-1);
        long size = flat.element_size();
        long perChunk = Math.Max(1, ChunkBytes / size);
        for (long e0 = 0; e0 < numel; e0 += perChunk)
        {
            using var chunk = flat.narrow(0, e0, Math.Min(perChunk, numel - e0));
            s.Write(chunk.bytes);
        }
    }
}
