using Deem.IO;
using static TorchSharp.torch;

namespace Deem.Tests.IO;

/// <summary><c>deem inspect</c>'s listing over every layout: the same keys, dtypes, shapes and totals.</summary>
public class CheckpointInspectionTests
{
    static Dictionary<string, Tensor> State() => new(StringComparer.Ordinal)
    {
        ["mm_decoder.embed_tokens.weight"] = zeros(new long[] { 10, 4 }, dtype: ScalarType.Float16),
        ["mm_decoder.norm.weight"] = ones(4),
        ["visual_tokenizer.pos_embed"] = zeros(5, 4),
        ["step"] = tensor(new long[] { 3 }),
    };

    [Fact]
    public void EveryLayoutListsTheSameTensorsAndTotals()
    {
        using var dir = new TempDir();
        var state = State();
        TorchZipWriter.Save(dir.File("pytorch_model.bin"), state);
        SafetensorsWriter.Write(dir.File("one.safetensors"), state);
        Directory.CreateDirectory(dir.File("sharded"));
        ShardedSafetensors.Write(dir.File("sharded"), state, maxShardBytes: 64);
        Directory.CreateDirectory(dir.File("bin-shards"));
        TorchZipWriter.Save(dir.File("bin-shards/a.bin"), state.Where(kv => kv.Key.StartsWith("mm_")));
        TorchZipWriter.Save(dir.File("bin-shards/b.bin"), state.Where(kv => !kv.Key.StartsWith("mm_")));
        File.WriteAllText(dir.File("bin-shards/" + ShardedTorchCheckpoint.IndexFileName),
            "{\"weight_map\": {\"mm_decoder.embed_tokens.weight\": \"a.bin\", \"mm_decoder.norm.weight\": \"a.bin\", \"visual_tokenizer.pos_embed\": \"b.bin\", \"step\": \"b.bin\"}}");

        foreach (var path in new[] { dir.Path, dir.File("one.safetensors"), dir.File("sharded"), dir.File("bin-shards") })
        {
            var r = CheckpointInspection.Run(path);
            Assert.Equal(["mm_decoder.embed_tokens.weight", "mm_decoder.norm.weight", "step", "visual_tokenizer.pos_embed"], r.Tensors.Select(t => t.Key));
            Assert.Equal(40 + 4 + 1 + 20, r.Parameters);
            Assert.Equal(40 * 2 + 4 * 4 + 8 + 20 * 4, r.Bytes);
            Assert.Equal(40, r.ByDtype[ScalarType.Float16]);
            Assert.Equal(44, r.ByPrefix["mm_decoder"]);
            Assert.Equal("[10, 4]", r.Tensors[0].ShapeText);
        }
        foreach (var t in state.Values) t.Dispose();
    }

    [Fact]
    public void AFolderOfComponentFoldersListsEachUnderItsName()
    {
        using var dir = new TempDir();
        var state = State();
        foreach (var sub in new[] { "unet", "vae" }) Directory.CreateDirectory(dir.File(sub));
        SafetensorsWriter.Write(dir.File("unet/diffusion_pytorch_model.safetensors"), state);
        TorchZipWriter.Save(dir.File("vae/diffusion_pytorch_model.bin"), state.Where(kv => kv.Key == "step"));
        File.WriteAllText(dir.File("model_index.json"), "{}");
        var r = CheckpointInspection.Run(dir.Path);
        Assert.Equal(["unet/mm_decoder.embed_tokens.weight", "unet/mm_decoder.norm.weight", "unet/step", "unet/visual_tokenizer.pos_embed", "vae/step"],
            r.Tensors.Select(t => t.Key));
        Assert.Equal(65, r.ByPrefix["unet"]);
        Assert.Equal(1, r.ByPrefix["vae"]);
        foreach (var t in state.Values) t.Dispose();
    }

    [Fact]
    public void AMissingPathIsAnErrorNamingIt()
    {
        var e = Assert.Throws<DeemFormatException>(() => CheckpointInspection.Run("no-such-checkpoint.safetensors"));
        Assert.Contains("no-such-checkpoint.safetensors", e.Message);
    }
}
