using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.IO;

/// <summary>
/// Writes a state dict as <c>torch.save</c> does (zip with <c>archive/data.pkl</c>, <c>archive/data/&lt;n&gt;</c>,
/// <c>archive/version</c>): a protocol-2 pickle of <c>OrderedDict(key → torch._utils._rebuild_tensor_v2(
/// persistent ("storage", torch.XStorage, n, "cpu", numel), 0, size, stride, False, OrderedDict()))</c>,
/// one storage per tensor (CPython <c>pickletools</c> opcodes; <c>torch/serialization.py</c> <c>_save</c>).
/// </summary>
static class TorchZipWriter
{
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var p = new List<byte> { 0x80, 2 };                                          // PROTO 2
        void Op(params byte[] b) => p.AddRange(b);
        void Str(string s) { var u = Encoding.UTF8.GetBytes(s); Op((byte)'X'); Op(BitConverter.GetBytes(u.Length)); Op(u); }
        void Int(long v) { if (v is >= 0 and < 256) Op((byte)'K', (byte)v); else { Op((byte)'J'); Op(BitConverter.GetBytes(checked((int)v))); } }
        void Global(string module, string name) { Op((byte)'c'); Op(Encoding.ASCII.GetBytes(module + "\n" + name + "\n")); }
        void Ints(long[] xs)
        {
            if (xs.Length == 0) { Op((byte)')'); return; }
            Op((byte)'(');
            foreach (var x in xs) Int(x);
            Op((byte)'t');
        }
        var storages = new List<byte[]>();
        Global("collections", "OrderedDict"); Op((byte)')', (byte)'R');               // OrderedDict()
        Op((byte)'(');                                                               // MARK for SETITEMS
        foreach (var (key, t) in tensors)
        {
            using var flat = t.detach().cpu().contiguous();
            long[] stride = new long[flat.dim()];
            for (int i = stride.Length - 1, s = 1; i >= 0; i--) { stride[i] = s; s *= (int)flat.shape[i]; }
            Str(key);
            Global("torch._utils", "_rebuild_tensor_v2");
            Op((byte)'(');
            Op((byte)'('); Str("storage"); Global("torch", StorageName(flat.dtype)); Str(storages.Count.ToString()); Str("cpu"); Int(flat.numel()); Op((byte)'t');
            Op((byte)'Q');                                                           // BINPERSID
            Int(0); Ints(flat.shape); Ints(stride);
            Op(0x89);                                                                // NEWFALSE requires_grad
            Global("collections", "OrderedDict"); Op((byte)')', (byte)'R');
            Op((byte)'t', (byte)'R');                                                // args tuple, REDUCE
            storages.Add(flat.bytes.ToArray());
        }
        Op((byte)'u', (byte)'.');                                                    // SETITEMS, STOP

        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Add(string entry, byte[] data) { using var s = zip.CreateEntry(entry, CompressionLevel.NoCompression).Open(); s.Write(data); }
        Add("archive/data.pkl", p.ToArray());
        Add("archive/byteorder", "little"u8.ToArray());
        for (int i = 0; i < storages.Count; i++) Add("archive/data/" + i, storages[i]);
        Add("archive/version", "3\n"u8.ToArray());
    }

    static string StorageName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new ArgumentException($"no storage name for {t}"),
    };
}
