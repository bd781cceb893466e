using Deem.World;
using Deem.Config;
using Deem.IO;
using Deem.Model;
using Deem.Tests.IO;
using Deem.Tests.Text;
using Deem.Tests.Vision;
using Deem.Text;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Model;

/// <summary>
/// <c>deem import</c> from the authors' checkpoint layouts, written here from a tiny model: one
/// <c>pytorch_model.bin</c> (torch zip), sharded <c>.bin</c> with <c>pytorch_model.bin.index.json</c>, one
/// <c>.safetensors</c>, sharded safetensors with an index; each with DEEM's known extra buffers. The import
/// lists the expected keys on the meta device, so these tests run in the non-parallel meta collection.
/// </summary>
[Collection(GlobalTorchStateCollection.Name)]
public class CheckpointImportTests
{
    public static TheoryData<string> Layouts => new() { "bin", "sharded-bin", "safetensors", "sharded-safetensors" };

    static (DeemConfig Config, Dictionary<string, Tensor> State) TinyState(ITextTokenizer tok, ulong seed)
    {
        var config = CheckpointImport.ResolveConfig(new ImportOptions { Out = "", Preset = "tiny" }, tok.Specials);
        using var model = new DeemModel(config, new Generator(seed));
        return (config, model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone(), StringComparer.Ordinal));
    }

    /// <summary>The authors' extra buffers, with the values their code registers.</summary>
    static void AddExtras(Dictionary<string, Tensor> state)
    {
        state["visual_tokenizer.clip_mean"] = tensor(ImageEncoder.ClipMean).view(1, 3, 1, 1);
        state["visual_tokenizer.clip_std"] = tensor(ImageEncoder.ClipStd).view(1, 3, 1, 1);
        state["visual_tokenizer.pos_embed"] = SinCosPositionEmbedding.Table(64, 16, clsToken: true);
    }

    /// <summary>Writes <paramref name="state"/> in <paramref name="layout"/> under <paramref name="dir"/>; returns the path to import.</summary>
    static string Write(string dir, string layout, Dictionary<string, Tensor> state)
    {
        var keys = state.Keys.Order(StringComparer.Ordinal).ToList();
        switch (layout)
        {
            case "bin":
                TorchZipWriter.Save(Path.Combine(dir, "pytorch_model.bin"), state);
                return dir;
            case "sharded-bin":
                var half = keys.Count / 2;
                var map = new System.Text.Json.Nodes.JsonObject();
                foreach (var (part, name) in new[] { (keys[..half], "pytorch_model-00001-of-00002.bin"), (keys[half..], "pytorch_model-00002-of-00002.bin") })
                {
                    TorchZipWriter.Save(Path.Combine(dir, name), part.Select(k => KeyValuePair.Create(k, state[k])));
                    foreach (var k in part) map[k] = name;
                }
                File.WriteAllText(Path.Combine(dir, ShardedTorchCheckpoint.IndexFileName), new System.Text.Json.Nodes.JsonObject { ["weight_map"] = map }.ToJsonString());
                return Path.Combine(dir, ShardedTorchCheckpoint.IndexFileName);
            case "safetensors":
                SafetensorsWriter.Write(Path.Combine(dir, "deem.safetensors"), state);
                return Path.Combine(dir, "deem.safetensors");
            default:
                ShardedSafetensors.Write(dir, state, maxShardBytes: 1 << 20);
                return dir;
        }
    }

    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "deem-import-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    static string WorldVocab(string dir)
    {
        var path = Path.Combine(dir, "tokenizer.vocab");
        WorldTokenizer.Default.Save(path);
        return path;
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void ImportsEveryLayoutIntoAModelFolderThatLoadsStrictly(string layout)
    {
        var dir = TempDir();
        var (config, state) = TinyState(WorldTokenizer.Default, 11);
        try
        {
            AddExtras(state);
            var src = Directory.CreateDirectory(Path.Combine(dir, "src")).FullName;
            var report = CheckpointImport.Run(new ImportOptions
            {
                Out = Path.Combine(dir, "out"), Checkpoint = Write(src, layout, state), Tokenizer = WorldVocab(dir), Preset = "tiny", MaxShardBytes = 2 << 20,
            });
            Assert.Equal(["visual_tokenizer.clip_mean", "visual_tokenizer.clip_std", "visual_tokenizer.pos_embed"], report.CheckedExtras.Order());
            Assert.Equal(state.Count - 3, report.Tensors);
            Assert.True(report.Files > 1);                                       // sharded with an index
            Assert.True(File.Exists(Path.Combine(dir, "out", ShardedSafetensors.IndexFileName)));
            var (model, tok) = DeemCheckpoint.Load(Path.Combine(dir, "out"));
            using (model)
            {
                Assert.Equal(WordPieceTextTokenizer.KindName, tok.Kind);
                Assert.Equal(ConfigJson.ToJson(config), ConfigJson.ToJson(model.Config));
                foreach (var (k, v) in model.state_dict()) Assert.True(v.allclose(state[k], rtol: 0, atol: 0), k);
            }
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void MissingUnexpectedAndMisshapenKeysAreAllNamed(string layout)
    {
        var dir = TempDir();
        var (_, state) = TinyState(WorldTokenizer.Default, 12);
        try
        {
            const string dropped = "context_feat_proj.weight", reshaped = "soi_token", extra = "visual_tokenizer.ema_shadow";
            state.Remove(dropped, out var gone);
            gone!.Dispose();
            state[reshaped] = zeros(3, 5);
            state[extra] = zeros(2);
            var src = Directory.CreateDirectory(Path.Combine(dir, "src")).FullName;
            var e = Assert.Throws<DeemFormatException>(() => CheckpointImport.Run(new ImportOptions
            {
                Out = Path.Combine(dir, "out"), Checkpoint = Write(src, layout, state), Tokenizer = WorldVocab(dir), Preset = "tiny",
            }));
            Assert.Contains($"missing keys (1): {dropped}", e.Message);
            Assert.Contains($"unexpected keys (1): {extra}", e.Message);
            Assert.Contains($"wrong shapes (1): {reshaped} (checkpoint [3, 5]", e.Message);
            Assert.False(Directory.Exists(Path.Combine(dir, "out")));           // nothing written
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AKnownExtraWithOtherValuesIsAnError()
    {
        var dir = TempDir();
        var (_, state) = TinyState(WorldTokenizer.Default, 13);
        try
        {
            AddExtras(state);
            state["visual_tokenizer.clip_mean"].fill_(0.5f);
            var e = Assert.Throws<DeemFormatException>(() => CheckpointImport.Run(new ImportOptions
            {
                Out = Path.Combine(dir, "out"), Checkpoint = Write(dir, "safetensors", state), Tokenizer = WorldVocab(dir), Preset = "tiny",
            }));
            Assert.Contains("known extra visual_tokenizer.clip_mean: differs from the OpenAI CLIP mean", e.Message);
            Assert.Equal(1, KnownCheckpointExtras.All.Count(x => x.Pattern.IsMatch("mm_decoder.layers.3.self_attn.rotary_emb.inv_freq")));
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void DtypeConvertsFloatingTensorsAndAVicunaTokenizerSetsTheVocabulary()
    {
        var dir = TempDir();
        var vicuna = LlamaVocabulary.FromModel;
        var (config, state) = TinyState(vicuna, 14);
        try
        {
            Assert.Equal(32006, config.Llm.VocabSize);
            Assert.Equal(31999, config.Llm.PadTokenId);
            var out_ = Path.Combine(dir, "out");
            CheckpointImport.Run(new ImportOptions
            {
                Out = out_, Checkpoint = Write(dir, "bin", state), Tokenizer = LlamaVocabulary.ModelPath, Preset = "tiny", Dtype = "bf16",
            });
            var inspection = CheckpointInspection.Run(out_);
            Assert.Equal(state.Values.Where(t => t.is_floating_point()).Sum(t => t.numel()), inspection.ByDtype[ScalarType.BFloat16]);
            Assert.Equal(state.Values.Sum(t => t.numel()), inspection.Parameters);
            Assert.Equal("llama", TokenizerFiles.Load(out_).Kind);
            var (model, tok) = DeemCheckpoint.Load(out_);
            using (model)
            {
                Assert.Equal(SpecialTokens.Paper, model.Tokens);
                Assert.Equal([1, 15043, 3186], tok.Encode("Hello world", addBos: true));
                using var expected = state["soi_token"].to(ScalarType.BFloat16).to(ScalarType.Float32);
                Assert.True(model.state_dict()["soi_token"].allclose(expected, rtol: 0, atol: 0));
            }
            var e = Assert.Throws<DeemConfigException>(() => CheckpointImport.Run(new ImportOptions
            {
                Out = out_, Checkpoint = dir, Tokenizer = LlamaVocabulary.ModelPath, Preset = "tiny", Dtype = "fp8",
            }));
            Assert.Equal("dtype", e.Field);
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }
}
