using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>
/// Writes a flat state dict in the <c>torch.save</c> zip format that <see cref="TorchCheckpoint"/> reads
/// (pytorch <c>torch/serialization.py</c> <c>_save</c>): <c>archive/data.pkl</c> is a protocol-2 pickle of
/// <c>OrderedDict(key → torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()))</c>
/// with persistent ids <c>("storage", torch.XStorage, "i", "cpu", numel)</c>; <c>archive/data/i</c> holds
/// each tensor's contiguous little-endian bytes. Used for test and fuzz seeds and for round trips.
/// </summary>
public static class TorchCheckpointWriter
{
    static readonly Dictionary<ScalarType, string> StorageNames = new()
    {
        [ScalarType.Float32] = "FloatStorage", [ScalarType.Float64] = "DoubleStorage", [ScalarType.Float16] = "HalfStorage",
        [ScalarType.BFloat16] = "BFloat16Storage", [ScalarType.Int64] = "LongStorage", [ScalarType.Int32] = "IntStorage",
        [ScalarType.Int16] = "ShortStorage", [ScalarType.Int8] = "CharStorage", [ScalarType.Byte] = "ByteStorage",
        [ScalarType.Bool] = "BoolStorage",
    };

    /// <summary>The zip archive's bytes; entries stored uncompressed unless <paramref name="compress"/>.</summary>
    public static byte[] ToBytes(IReadOnlyDictionary<string, Tensor> stateDict, bool compress = false)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            var level = compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression;
            void Add(string name, ReadOnlySpan<byte> data)
            {
                using var s = zip.CreateEntry(name, level).Open();
                s.Write(data);
            }
            var keys = stateDict.Keys.ToArray();
            Add("archive/data.pkl", Pickle(keys, stateDict));
            Add("archive/byteorder", "little"u8);
            for (int i = 0; i < keys.Length; i++)
            {
                using var c = stateDict[keys[i]].cpu().contiguous();
                Add($"archive/data/{i}", c.numel() == 0 ? [] : c.bytes);
            }
            Add("archive/version", "3\n"u8);
        }
        return ms.ToArray();
    }

    /// <summary>Writes the archive atomically.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> stateDict) => AtomicFile.WriteAllBytes(path, ToBytes(stateDict));

    static byte[] Pickle(string[] keys, IReadOnlyDictionary<string, Tensor> sd)
    {
        var p = new List<byte> { 0x80, 2 };                          // PROTO 2
        void Op(params byte[] b) => p.AddRange(b);
        void Str(string s)
        {
            var u = Encoding.UTF8.GetBytes(s);
            Op((byte)'X');
            Op(BitConverter.GetBytes(u.Length));
            Op(u);
        }
        void Global(string module, string name) { Op((byte)'c'); Op(Encoding.ASCII.GetBytes(module + "\n" + name + "\n")); }
        void Int(long v)
        {
            if (v is >= int.MinValue and <= int.MaxValue) { Op((byte)'J'); Op(BitConverter.GetBytes((int)v)); return; }
            var b = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(b, v);
            Op(0x8a, 8); Op(b);                                      // LONG1
        }
        void Ints(long[] xs) { Op((byte)'('); foreach (var x in xs) Int(x); Op((byte)'t'); }
        void OrderedDict() { Global("collections", "OrderedDict"); Op((byte)')', (byte)'R'); }

        OrderedDict();
        Op((byte)'(');                                               // MARK for SETITEMS
        for (int i = 0; i < keys.Length; i++)
        {
            var t = sd[keys[i]];
            if (!StorageNames.TryGetValue(t.dtype, out var storage))
                throw new ArgumentException($"dtype {t.dtype} has no torch storage class", nameof(sd));
            long[] size = t.shape, stride = new long[size.Length];
            long step = 1;
            for (int d = size.Length - 1; d >= 0; d--) { stride[d] = step; step *= Math.Max(1, size[d]); } // C order
            Str(keys[i]);
            Global("torch._utils", "_rebuild_tensor_v2");
            Op((byte)'(');
            Op((byte)'('); Str("storage"); Global("torch", storage); Str(i.ToString(System.Globalization.CultureInfo.InvariantCulture)); Str("cpu"); Int(t.numel()); Op((byte)'t');
            Op((byte)'Q');                                           // BINPERSID
            Int(0); Ints(size); Ints(stride);
            Op(0x89);                                                // requires_grad False
            OrderedDict();                                           // backward hooks
            Op((byte)'t', (byte)'R');
        }
        Op((byte)'u', (byte)'.');                                    // SETITEMS, STOP
        return p.ToArray();
    }
}
