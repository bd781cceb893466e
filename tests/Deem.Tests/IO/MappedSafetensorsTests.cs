using Deem.IO;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

/// <summary>Memory-mapped reads into preallocated tensors, with and without dtype conversion, across chunks and shards; streamed writes.</summary>
public class MappedSafetensorsTests
{
    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "deem-mapped-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void CopiesSameDtypeBitForBitAndConvertsChunkByChunkAcrossShards()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(11);
        var tensors = new Dictionary<string, Tensor>
        {
            ["big"] = randn(new long[] { 2_500_001 }, generator: g),                       // three 1 M-element chunks, the last one short
            ["half"] = randn(new long[] { 3, 5 }, generator: g).to(ScalarType.Float16),
            ["ids"] = arange(7L),
            ["empty"] = zeros(0, 4),
        };
        var dir = TempDir();
        ShardedSafetensors.Write(dir, tensors, maxShardBytes: 1_000_000);                // several shards and an index
        Assert.True(File.Exists(Path.Combine(dir, ShardedSafetensors.IndexFileName)));
        using var mapped = MappedSafetensors.Open(dir);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), mapped.Keys);

        foreach (var (key, src) in tensors)
        {
            var same = empty(src.shape, src.dtype);
            mapped.CopyInto(key, same);
            Assert.True(Same(src, same), key);
        }
        var bf16 = empty(new long[] { 2_500_001 }, ScalarType.BFloat16);
        mapped.CopyInto("big", bf16);
        Assert.True(Same(tensors["big"].to(ScalarType.BFloat16), bf16));
        var f32 = empty(new long[] { 3, 5 }, ScalarType.Float32);
        mapped.CopyInto("half", f32);
        Assert.True(Same(tensors["half"].to(ScalarType.Float32), f32));
    }

    [Fact]
    public void RefusesAWrongShapeAnIntegerToFloatAndAnUnknownKeyByName()
    {
        using var scope = NewDisposeScope();
        var dir = TempDir();
        var file = Path.Combine(dir, "w.safetensors");
        SafetensorsWriter.Write(file, new Dictionary<string, Tensor> { ["w"] = ones(2, 3), ["ids"] = arange(3L) });
        using var mapped = MappedSafetensors.Open(file);
        Assert.Contains("[2, 3]", Assert.Throws<DeemFormatException>(() => mapped.CopyInto("w", empty(3, 2))).Message);
        Assert.Contains("I64", Assert.Throws<DeemFormatException>(() => mapped.CopyInto("ids", empty(3))).Message);
        Assert.Contains("gone", Assert.Throws<DeemFormatException>(() => mapped.CopyInto("gone", empty(1))).Message);
    }

    [Fact]
    public void StreamedWriteFromSpecsIsTheDictionaryWritersFile()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(12);
        var tensors = new Dictionary<string, Tensor>
        {
            ["b"] = randn(new long[] { 4, 3 }, generator: g), ["a"] = randn(new long[] { 5 }, generator: g).to(ScalarType.BFloat16), ["c"] = arange(3L),
        };
        var dir = TempDir();
        var whole = Path.Combine(dir, "whole.safetensors");
        var streamed = Path.Combine(dir, "streamed.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        SafetensorsWriter.Write(whole, tensors, metadata);
        var made = new List<string>();
        SafetensorsWriter.Write(streamed, tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, new TensorSpec(kv.Value.dtype, kv.Value.shape))).ToList(),
            k => { made.Add(k); return tensors[k].clone(); }, metadata);
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(streamed));
        Assert.Equal(["c", "b", "a"], made);                                               // I64, F32, BF16: descending alignment, one at a time
    }
}
