using Deem.IO;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

public class TorchCheckpointWriterTests
{
    static Dictionary<string, Tensor> StateDict() => new()
    {
        ["w"] = torch.arange(6, dtype: ScalarType.Float32).reshape(2, 3),
        ["b"] = torch.tensor(new long[] { 3, -4, 1L << 40 }),
        ["s"] = torch.tensor(2.5f).to(ScalarType.BFloat16),
        ["m"] = torch.tensor(new[] { true, false }),
        ["e"] = torch.zeros(0, 4, dtype: ScalarType.Float16),
    };

    [Fact]
    public void WrittenArchiveLoadsBackBitForBit()
    {
        using var dir = new TempDir();
        var sd = StateDict();
        string path = dir.File("pytorch_model.bin");
        TorchCheckpointWriter.Write(path, sd);
        var back = TorchCheckpoint.Load(path);
        Assert.Equal(sd.Keys.Order(), back.Keys.Order());
        foreach (var (k, t) in sd) Assert.True(Same(t, back[k]), k);
    }

    [Fact]
    public void CorruptStoredEntryIsATypedError()
    {
        using var dir = new TempDir();
        byte[] bytes = TorchCheckpointWriter.ToBytes(StateDict());
        // break the local file header signature of the first storage record (30 bytes before its name)
        int at = bytes.AsSpan().IndexOf("archive/data/0"u8) - 30;
        Assert.Equal((byte)'P', bytes[at]);
        bytes[at] ^= 0x40;
        string path = dir.File("bad.bin");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<DeemFormatException>(() => TorchCheckpoint.Load(path));
        Assert.Equal(path, ex.File);
    }
}
