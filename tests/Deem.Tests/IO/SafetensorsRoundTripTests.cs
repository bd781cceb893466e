using Deem.IO;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

public class SafetensorsRoundTripTests
{
    public static TheoryData<string> Dtypes => new() { "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL" };

    [Theory]
    [MemberData(nameof(Dtypes))]
    public void EveryDtypeRoundTripsBitExact(string name)
    {
        Assert.True(SafetensorsDtype.TryParse(name, out var dtype));
        int size = SafetensorsDtype.SizeOf(dtype);
        var rng = new Random(1234);
        var raw = new byte[2 * 3 * size];
        rng.NextBytes(raw); // arbitrary bit patterns, incl. NaN payloads, infinities, subnormals
        if (dtype == ScalarType.Bool) raw = raw.Select(b => (byte)(b & 1)).ToArray();
        using var dir = new TempDir();
        string path = dir.File("x.safetensors");
        using var t = FromBytes(raw, dtype, 2, 3);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["w"] = t });

        using var f = SafetensorsFile.Open(path);
        Assert.Equal(name, f.Entry("w").DtypeName);
        using var back = f.Load("w");
        Assert.Equal(dtype, back.dtype);
        Assert.Equal(new long[] { 2, 3 }, back.shape);
        Assert.Equal(raw, Raw(back));
    }

    [Fact]
    public void HalfPrecisionValuesKeepTheirMeaning()
    {
        // BF16 1.0 = 0x3F80, -2.0 = 0xC000; F16 1.0 = 0x3C00, 0.5 = 0x3800 (little-endian bytes).
        using var bf = FromBytes([0x80, 0x3F, 0x00, 0xC0], ScalarType.BFloat16, 2);
        using var h = FromBytes([0x00, 0x3C, 0x00, 0x38], ScalarType.Float16, 2);
        using var dir = new TempDir();
        string path = dir.File("h.safetensors");
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["bf"] = bf, ["h"] = h });
        using var f = SafetensorsFile.Open(path);
        using var bf2 = f.Load("bf").to(ScalarType.Float32);
        using var h2 = f.Load("h").to(ScalarType.Float32);
        Assert.Equal(new[] { 1f, -2f }, bf2.data<float>().ToArray());
        Assert.Equal(new[] { 1f, 0.5f }, h2.data<float>().ToArray());
    }

    [Fact]
    public void BoolValuesRoundTrip()
    {
        using var b = torch.tensor(new[] { true, false, true });
        using var dir = new TempDir();
        string path = dir.File("b.safetensors");
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["mask"] = b });
        using var f = SafetensorsFile.Open(path);
        using var back = f.Load("mask");
        Assert.Equal(new[] { true, false, true }, back.data<bool>().ToArray());
    }

    [Fact]
    public void MetadataScalarsAndEmptyTensorsRoundTrip()
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        using var scalar = torch.tensor(3.5f);                          // shape []
        using var empty = torch.empty(new long[] { 0, 3 }, ScalarType.Float32);
        using var emptyI = torch.empty(new long[] { 0 }, ScalarType.Int64);
        using var strided = torch.arange(12, ScalarType.Float32).reshape(3, 4).t(); // non-contiguous input
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quote \" and ünïcode\n" };
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor>
        {
            ["scalar"] = scalar, ["empty"] = empty, ["empty_i"] = emptyI, ["strided"] = strided,
        }, meta);

        using var f = SafetensorsFile.Open(path);
        Assert.Equal(meta, f.Metadata);
        Assert.Equal(new[] { "empty", "empty_i", "scalar", "strided" }, f.Keys);
        using var s = f.Load("scalar");
        Assert.Empty(s.shape);
        Assert.Equal(3.5f, s.item<float>());
        using var e = f.Load("empty");
        Assert.Equal(new long[] { 0, 3 }, e.shape);
        using var ei = f.Load("empty_i");
        Assert.Equal(new long[] { 0 }, ei.shape);
        Assert.Equal(ScalarType.Int64, ei.dtype);
        using var st = f.Load("strided");
        Assert.True(Same(st, strided));
        Assert.Equal(new long[] { 4, 3 }, st.shape);
    }

    [Fact]
    public void WriterPadsHeaderToEightAndLeavesNoTempFiles()
    {
        using var dir = new TempDir();
        string path = dir.File("p.safetensors");
        using var a = torch.ones(3, ScalarType.Int8);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["abc"] = a });
        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        Assert.Equal(0, n % 8);
        Assert.Equal(8 + n + 3, bytes.Length);
        Assert.Equal(new[] { "p.safetensors" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void NoMetadataMeansNullMetadata()
    {
        using var dir = new TempDir();
        string path = dir.File("n.safetensors");
        using var a = torch.zeros(2);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a"] = a });
        using var f = SafetensorsFile.Open(path);
        Assert.Null(f.Metadata);
    }
}
