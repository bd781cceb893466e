using System.Text.Json.Nodes;
using Deem.IO;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

public class ShardedSafetensorsTests
{
    static Dictionary<string, Tensor> Tensors()
    {
        var g = new Generator(3);
        return new()
        {
            ["layers.0.w"] = torch.randn([4, 4], generator: g),                      // 64 bytes
            ["layers.1.w"] = torch.randn([4, 4], generator: g).to(ScalarType.BFloat16), // 32 bytes
            ["layers.2.w"] = torch.randn([8, 4], generator: g),                      // 128 bytes
            ["pos"] = torch.arange(5),                               // int64, 40 bytes
        };
    }

    [Fact]
    public void ShardedRoundTrip()
    {
        var tensors = Tensors();
        using var dir = new TempDir();
        var shards = ShardedSafetensors.Write(dir.Path, tensors, maxShardBytes: 100,
            new Dictionary<string, string> { ["format"] = "pt" });
        // Greedy in name order: [layers.0.w, layers.1.w] = 96, [layers.2.w] = 128 (alone), [pos] = 40.
        Assert.Equal(new[] { "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors" }, shards);

        using var ck = ShardedSafetensors.Open(dir.Path);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), ck.Keys);
        Assert.Equal(264, (long)ck.IndexMetadata["total_size"]!);
        Assert.Equal("pt", (string)ck.IndexMetadata["format"]!);
        Assert.Equal("model-00002-of-00003.safetensors", ck.WeightMap["layers.2.w"]);
        foreach (var (k, t) in tensors)
        {
            using var back = ck.Load(k);
            Assert.Equal(t.dtype, back.dtype);
            Assert.Equal(Raw(t), Raw(back));
        }
        using var generic = Checkpoint.Open(dir.Path);
        Assert.IsType<ShardedSafetensors>(generic);
    }

    [Fact]
    public void EverythingInOneShardWritesASingleFile()
    {
        using var dir = new TempDir();
        var shards = ShardedSafetensors.Write(dir.Path, Tensors(), maxShardBytes: 1 << 20);
        Assert.Equal(new[] { ShardedSafetensors.SingleFileName }, shards);
        Assert.False(File.Exists(dir.File(ShardedSafetensors.IndexFileName)));
        using var ck = Checkpoint.Open(dir.Path);
        Assert.IsType<SafetensorsFile>(ck);
        Assert.Equal(4, ck.Keys.Count);
    }

    [Fact]
    public void IndexNamingAMissingShardFails()
    {
        using var dir = new TempDir();
        ShardedSafetensors.Write(dir.Path, Tensors(), maxShardBytes: 100);
        File.Delete(dir.File("model-00003-of-00003.safetensors"));
        string index = dir.File(ShardedSafetensors.IndexFileName);
        var ex = Assert.Throws<DeemFormatException>(() => ShardedSafetensors.Open(dir.Path));
        Assert.Equal(index, ex.File);
        Assert.Equal("pos", ex.Key);
        Assert.Contains("'model-00003-of-00003.safetensors', which does not exist", ex.Message);
    }

    [Theory]
    [InlineData("{\"weight_map\": ", "index is not valid JSON")]
    [InlineData("[1]", "index must be a JSON object")]
    [InlineData("{\"metadata\": {}}", "no object field 'weight_map'")]
    [InlineData("{\"weight_map\": {\"w\": 3}}", "weight_map value must be a shard file name")]
    [InlineData("{\"weight_map\": {\"w\": \"../x.safetensors\"}}", "must be a plain file name")]
    public void MalformedIndexFails(string json, string problem)
    {
        using var dir = new TempDir();
        string index = dir.File(ShardedSafetensors.IndexFileName);
        File.WriteAllText(index, json);
        var ex = Assert.Throws<DeemFormatException>(() => ShardedSafetensors.Open(index));
        Assert.Equal(index, ex.File);
        Assert.Contains(index, ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void IndexPointingAtTheWrongShardFails()
    {
        using var dir = new TempDir();
        ShardedSafetensors.Write(dir.Path, Tensors(), maxShardBytes: 100);
        string index = dir.File(ShardedSafetensors.IndexFileName);
        var root = JsonNode.Parse(File.ReadAllText(index))!;
        root["weight_map"]!["pos"] = "model-00001-of-00003.safetensors";
        File.WriteAllText(index, root.ToJsonString());
        var ex = Assert.Throws<DeemFormatException>(() => ShardedSafetensors.Open(index));
        Assert.Equal("pos", ex.Key);
        Assert.Contains("which does not hold it", ex.Message);
    }

    [Fact]
    public void DuplicateKeyInTheIndexIsANamedError()
    {
        using var dir = new TempDir();
        ShardedSafetensors.Write(dir.Path, Tensors(), maxShardBytes: 100);
        string index = dir.File(ShardedSafetensors.IndexFileName);
        string text = File.ReadAllText(index);
        // list "pos" a second time (same shard): a JSON object with a repeated key
        text = text.Replace("\"pos\": \"model-00003-of-00003.safetensors\"",
            "\"pos\": \"model-00003-of-00003.safetensors\", \"pos\": \"model-00003-of-00003.safetensors\"");
        File.WriteAllText(index, text);
        var ex = Assert.Throws<DeemFormatException>(() => ShardedSafetensors.Open(index));
        Assert.Equal(index, ex.File);
        Assert.Equal("weight_map.pos", ex.Key);
        Assert.Contains("duplicate key", ex.Message);
    }

    [Fact]
    public void IndexOmittingATensorOfAShardIsANamedError()
    {
        using var dir = new TempDir();
        ShardedSafetensors.Write(dir.Path, Tensors(), maxShardBytes: 100);
        string index = dir.File(ShardedSafetensors.IndexFileName);
        var root = JsonNode.Parse(File.ReadAllText(index))!;
        root["weight_map"]!.AsObject().Remove("layers.1.w");
        File.WriteAllText(index, root.ToJsonString());
        var ex = Assert.Throws<DeemFormatException>(() => ShardedSafetensors.Open(index));
        Assert.Equal("layers.1.w", ex.Key);
        Assert.Contains("holds a tensor that the weight_map does not list there", ex.Message);
    }
}
