using System.Buffers.Binary;
using System.Text;

namespace Deem.Training;

/// <summary>
/// Scalars for TensorBoard: an <c>events.out.tfevents.*</c> file of TFRecords (uint64 length, masked
/// CRC32C of the length, the record, masked CRC32C of the record) each holding a protobuf
/// <c>Event{wall_time=1 double, step=2 int64, file_version=3 string | summary=5 Summary{value=1
/// Value{tag=1 string, simple_value=2 float}}}</c>. Written here rather than with TorchSharp's
/// <c>SummaryWriter</c>, which stores wall times in .NET ticks (or 0 by default) as a 32-bit float and
/// steps as 32-bit ints, so TensorBoard's relative-time axis is wrong. Each event is flushed.
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    readonly FileStream _file;

    public TensorBoardWriter(string logDir)
    {
        Directory.CreateDirectory(logDir);
        Path = System.IO.Path.Combine(logDir, $"events.out.tfevents.{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.{Environment.MachineName}.{Environment.ProcessId}.deem");
        _file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        WriteRecord(Event(Now(), 0, w => w.String(3, "brain.Event:2")));
    }

    public string Path { get; }

    /// <summary>Adds the scalars of one step (one event with one value per tag).</summary>
    public void AddScalars(long step, IEnumerable<(string Tag, double Value)> scalars, double? wallTime = null)
    {
        var summary = new ProtoWriter();
        foreach (var (tag, value) in scalars)
        {
            var v = new ProtoWriter();
            v.String(1, tag);
            v.Float(2, (float)value);
            summary.Message(1, v);
        }
        WriteRecord(Event(wallTime ?? Now(), step, w => w.Message(5, summary)));
    }

    static double Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    static byte[] Event(double wallTime, long step, Action<ProtoWriter> what)
    {
        var e = new ProtoWriter();
        e.Double(1, wallTime);
        if (step != 0) e.Varint(2, (ulong)step);
        what(e);
        return e.ToArray();
    }

    void WriteRecord(byte[] data)
    {
        Span<byte> head = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(head, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head[8..], MaskedCrc(head[..8]));
        Span<byte> foot = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(foot, MaskedCrc(data));
        _file.Write(head);
        _file.Write(data);
        _file.Write(foot);
        _file.Flush();
    }

    /// <summary>TFRecord's masked CRC32C: rotate right by 15 and add 0xa282ead8.</summary>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    static readonly uint[] Table = BuildTable();

    static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;   // Castagnoli, reflected
            t[i] = c;
        }
        return t;
    }

    /// <summary>CRC-32C (Castagnoli) of <paramref name="data"/>.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    public void Dispose() => _file.Dispose();

    /// <summary>The few protobuf wire encodings an Event needs.</summary>
    sealed class ProtoWriter
    {
        readonly MemoryStream _s = new();

        void Tag(int field, int wire) => Raw((ulong)((field << 3) | wire));

        void Raw(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }

        public void Varint(int field, ulong v) { Tag(field, 0); Raw(v); }

        public void Double(int field, double v)
        {
            Tag(field, 1);
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(b, v);
            _s.Write(b);
        }

        public void Float(int field, float v)
        {
            Tag(field, 5);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(b, v);
            _s.Write(b);
        }

        public void Bytes(int field, ReadOnlySpan<byte> v) { Tag(field, 2); Raw((ulong)v.Length); _s.Write(v); }

        public void String(int field, string v) => Bytes(field, Encoding.UTF8.GetBytes(v));

        public void Message(int field, ProtoWriter m) => Bytes(field, m.ToArray());

        public byte[] ToArray() => _s.ToArray();
    }
}
