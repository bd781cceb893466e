using System.IO.Compression;
using System.Text;
using Deem.IO;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

/// <summary>
/// torch.save zip archives written by hand: a protocol-2 pickle emitted opcode by opcode the way
/// <c>torch.save(state_dict)</c> does (CPython <c>pickletools</c> opcode table; <c>torch/serialization.py</c>
/// <c>_save</c>: persistent id <c>("storage", torch.XStorage, key, "cpu", numel)</c>, tensors as
/// <c>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())</c>).
/// </summary>
public class TorchCheckpointTests
{
    /// <summary>Emits pickle opcodes; memo slots are assigned as the pickler does (BINPUT after each new object).</summary>
    sealed class Pickle
    {
        readonly List<byte> _b = new();
        byte _memo;
        public byte[] Bytes => _b.ToArray();
        public Pickle Op(params byte[] ops) { _b.AddRange(ops); return this; }
        public Pickle Put() => Op((byte)'q', _memo++);
        public Pickle Get(byte slot) => Op((byte)'h', slot);
        public Pickle Str(string s)
        {
            var u = Encoding.UTF8.GetBytes(s);
            Op((byte)'X').Op(BitConverter.GetBytes(u.Length)).Op(u);
            return Put();
        }
        public Pickle Int(int v) => v is >= 0 and < 256 ? Op((byte)'K', (byte)v) : Op((byte)'J').Op(BitConverter.GetBytes(v));
        public Pickle Global(string module, string name) =>
            Op((byte)'c').Op(Encoding.ASCII.GetBytes(module + "\n" + name + "\n")).Put();
        public Pickle Mark() => Op((byte)'(');
        public Pickle Tuple() => Op((byte)'t').Put();
        public Pickle Ints(params int[] xs)
        {
            if (xs.Length == 0) return Op((byte)')');
            if (xs.Length > 3) { Mark(); foreach (var x in xs) Int(x); return Tuple(); }
            foreach (var x in xs) Int(x);
            return Op((byte)(0x84 + xs.Length)).Put();                 // TUPLE1/2/3
        }
    }

    /// <summary>key: _rebuild_tensor_v2(storage(type, skey, numel), offset, size, stride, False, OrderedDict()).</summary>
    static void Tensor(Pickle p, string key, string storageType, string skey, int numel, int offset, int[] size, int[] stride,
        bool asParameter = false)
    {
        p.Str(key);
        if (asParameter) p.Global("torch._utils", "_rebuild_parameter");
        p.Global("torch._utils", "_rebuild_tensor_v2");
        p.Mark();
        p.Mark().Str("storage").Global("torch", storageType).Str(skey).Str("cpu").Int(numel).Tuple();
        p.Op((byte)'Q');                                               // BINPERSID
        p.Int(offset).Ints(size).Ints(stride);
        p.Op(0x89);                                                    // NEWFALSE requires_grad
        p.Get(0).Op((byte)')', (byte)'R').Put();                       // OrderedDict() backward hooks
        p.Tuple().Op((byte)'R').Put();
        if (asParameter)
        {
            p.Op(0x88).Get(0).Op((byte)')', (byte)'R').Put();          // requires_grad=True, OrderedDict()
            p.Op(0x87).Put().Op((byte)'R').Put();                      // TUPLE3, REDUCE
        }
    }

    static byte[] StateDictPickle()
    {
        var p = new Pickle();
        p.Op(0x80, 2);                                                 // PROTO 2
        p.Global("collections", "OrderedDict");                        // memo 0
        p.Op((byte)')', (byte)'R').Put();                              // OrderedDict()
        p.Mark();
        Tensor(p, "a", "FloatStorage", "0", 6, 0, [2, 3], [3, 1]);      // contiguous [[0,1,2],[3,4,5]]
        Tensor(p, "b", "FloatStorage", "0", 6, 0, [3, 2], [1, 3]);      // transposed view of the same storage
        Tensor(p, "c", "LongStorage", "1", 5, 2, [3], [1]);             // offset view [12, 13, 14]
        Tensor(p, "d", "HalfStorage", "2", 2, 1, [], [], asParameter: true); // scalar parameter at offset 1
        p.Op((byte)'u');                                               // SETITEMS
        // state: {'_metadata': OrderedDict({'': {'version': 1}})}, applied with BUILD
        p.Op((byte)'}').Put().Str("_metadata").Get(0).Op((byte)')', (byte)'R').Put();
        p.Mark().Str("").Op((byte)'}').Put().Str("version").Int(1).Op((byte)'s').Op((byte)'u');
        p.Op((byte)'s', (byte)'b', (byte)'.');                         // SETITEM, BUILD, STOP
        return p.Bytes;
    }

    static string WriteZip(TempDir dir, byte[] pickle, Dictionary<string, byte[]> storages, string name = "pytorch_model.bin")
    {
        string path = dir.File(name);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Add(string entry, byte[] data)
        {
            using var s = zip.CreateEntry(entry, CompressionLevel.NoCompression).Open();
            s.Write(data);
        }
        Add("archive/data.pkl", pickle);
        Add("archive/byteorder", "little"u8.ToArray());
        foreach (var (k, v) in storages) Add("archive/data/" + k, v);
        Add("archive/version", "3\n"u8.ToArray());
        return path;
    }

    static Dictionary<string, byte[]> Storages() => new()
    {
        ["0"] = F32(0, 1, 2, 3, 4, 5),
        ["1"] = new long[] { 10, 11, 12, 13, 14 }.SelectMany(BitConverter.GetBytes).ToArray(),
        ["2"] = [0x00, 0x3C, 0x00, 0xC0],                              // f16 [1.0, -2.0]
    };

    [Fact]
    public void ReadsStridedOffsetAndParameterTensors()
    {
        using var dir = new TempDir();
        string path = WriteZip(dir, StateDictPickle(), Storages());
        var sd = TorchCheckpoint.Load(path);
        Assert.Equal(new[] { "a", "b", "c", "d" }, sd.Keys.Order());
        Assert.Equal(new long[] { 2, 3 }, sd["a"].shape);
        Assert.Equal(new[] { 0f, 1, 2, 3, 4, 5 }, sd["a"].data<float>().ToArray());
        Assert.Equal(new long[] { 3, 2 }, sd["b"].shape);
        Assert.True(sd["b"].is_contiguous());
        Assert.Equal(new[] { 0f, 3, 1, 4, 2, 5 }, sd["b"].data<float>().ToArray());
        Assert.Equal(ScalarType.Int64, sd["c"].dtype);
        Assert.Equal(new long[] { 12, 13, 14 }, sd["c"].data<long>().ToArray());
        Assert.Equal(ScalarType.Float16, sd["d"].dtype);
        Assert.Empty(sd["d"].shape);
        Assert.Equal(-2f, sd["d"].to(ScalarType.Float32).item<float>());
        foreach (var t in sd.Values) t.Dispose();
    }

    /// <summary>
    /// The state dict as <c>OrderedDict([(key, tensor), ...])</c>: one REDUCE with the items as its argument, the
    /// form of Python 2's <c>OrderedDict.__reduce__</c> (and of TorchSharp.PyBridge's backward hooks), not
    /// <c>OrderedDict()</c> then SETITEMS.
    /// </summary>
    static byte[] PairsPickle(bool brokenPair = false)
    {
        var p = new Pickle();
        p.Op(0x80, 2);                                                 // PROTO 2
        p.Global("collections", "OrderedDict");                        // memo 0
        p.Op((byte)']').Put().Mark();                                  // EMPTY_LIST, MARK
        p.Mark();
        Tensor(p, "a", "FloatStorage", "0", 6, 0, [2, 3], [3, 1]);
        p.Tuple();                                                     // ('a', tensor)
        p.Mark();
        if (brokenPair) p.Str("c").Str("d");
        Tensor(p, "b", "LongStorage", "1", 5, 2, [3], [1]);
        p.Tuple();                                                     // ('b', tensor) or ('c', 'd', 'b', tensor)
        p.Op((byte)'e');                                               // APPENDS
        p.Op(0x85).Put().Op((byte)'R').Put().Op((byte)'.');            // TUPLE1, REDUCE, STOP
        return p.Bytes;
    }

    [Fact]
    public void ReadsAnOrderedDictBuiltFromItsPairs()
    {
        using var dir = new TempDir();
        var sd = TorchCheckpoint.Load(WriteZip(dir, PairsPickle(), Storages()));
        Assert.Equal(new[] { "a", "b" }, sd.Keys.Order());
        Assert.Equal(new[] { 0f, 1, 2, 3, 4, 5 }, sd["a"].data<float>().ToArray());
        Assert.Equal(new long[] { 12, 13, 14 }, sd["b"].data<long>().ToArray());
        foreach (var t in sd.Values) t.Dispose();

        string bad = WriteZip(dir, PairsPickle(brokenPair: true), Storages(), "bad.bin");
        var ex = Assert.Throws<DeemFormatException>(() => TorchCheckpoint.Load(bad));
        Assert.Contains("not a (key, value) pair", ex.Message);
        Assert.Contains(bad, ex.Message);
    }

    [Fact]
    public void ForbiddenGlobalIsRejectedByName()
    {
        var p = new Pickle();
        p.Op(0x80, 2).Global("os", "system").Str("echo pwned").Op(0x85).Put().Op((byte)'R', (byte)'.');
        using var dir = new TempDir();
        string path = WriteZip(dir, p.Bytes, new());
        var ex = Assert.Throws<DeemFormatException>(() => TorchCheckpoint.Load(path));
        Assert.Equal("os.system", ex.Key);
        Assert.Contains("pickle global 'os.system'", ex.Message);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void ViewPastTheStorageIsRejected()
    {
        var p = new Pickle();
        p.Op(0x80, 2).Global("collections", "OrderedDict").Op((byte)')', (byte)'R').Put().Mark();
        Tensor(p, "w", "FloatStorage", "0", 6, 4, [3], [1]);         // elements 4..6 of a 6-element storage
        p.Op((byte)'u', (byte)'.');
        using var dir = new TempDir();
        string path = WriteZip(dir, p.Bytes, new() { ["0"] = F32(0, 1, 2, 3, 4, 5) });
        var ex = Assert.Throws<DeemFormatException>(() => TorchCheckpoint.Load(path));
        Assert.Contains("reaches element 6 of a 6-element storage", ex.Message);
    }

    [Fact]
    public void UnknownOpcodeAndNonZipAreTypedErrors()
    {
        using var dir = new TempDir();
        string path = WriteZip(dir, [0x80, 2, (byte)'i', (byte)'.'], new());  // INST: not allowed
        var ex = Assert.Throws<DeemFormatException>(() => TorchCheckpoint.Load(path));
        Assert.Contains("opcode 0x69", ex.Message);

        string notZip = dir.File("legacy.bin");
        File.WriteAllBytes(notZip, [0x80, 2, 0x8a, 0x0a]);
        var ex2 = Assert.Throws<DeemFormatException>(() => TorchCheckpoint.Load(notZip));
        Assert.Contains("not a zip archive", ex2.Message);
    }

    [Fact]
    public void StateDictLoadsFromBinIntoModule()
    {
        // A torch.save'd {"weight": [2, 3], "bias": [2]} loads strictly into nn.Linear(3, 2).
        var p = new Pickle();
        p.Op(0x80, 2).Global("collections", "OrderedDict").Op((byte)')', (byte)'R').Put().Mark();
        Tensor(p, "weight", "FloatStorage", "0", 6, 0, [2, 3], [3, 1]);
        Tensor(p, "bias", "FloatStorage", "1", 2, 0, [2], [1]);
        p.Op((byte)'u', (byte)'.');
        using var dir = new TempDir();
        string path = WriteZip(dir, p.Bytes, new() { ["0"] = F32(1, 2, 3, 4, 5, 6), ["1"] = F32(0.5f, -0.5f) });
        using var lin = nn.Linear(3, 2);
        StateDicts.LoadStrict(lin, path);
        using var x = torch.tensor(new[] { 1f, 1f, 1f }).reshape(1, 3);
        using var y = lin.forward(x);
        Assert.Equal(new[] { 6.5f, 14.5f }, y.data<float>().ToArray());

        // The folder holding pytorch_model.bin opens the same way.
        using var lin2 = nn.Linear(3, 2);
        StateDicts.LoadStrict(lin2, dir.Path);
        using var y2 = lin2.forward(x);
        Assert.Equal(new[] { 6.5f, 14.5f }, y2.data<float>().ToArray());
    }
}
