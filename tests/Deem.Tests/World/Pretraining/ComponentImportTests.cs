using Deem.Text;
using Deem.IO;
using Deem.Model;
using Deem.Tests.IO;
using Deem.World.Pretraining;
using static TorchSharp.torch;

namespace Deem.Tests.World.Pretraining;

/// <summary>
/// <c>deem import</c> from the component folders (HF LLaMA, diffusers SD, open_clip) as stage 0 writes them:
/// the model folder holds the components' tensors under DEEM's keys and the LLM folder's tokenizer; the LLM
/// weights may also be HF's sharded <c>.bin</c>; a bad key in a component is named in the error.
/// </summary>
[Collection(Stage0Collection.Name)]
public class ComponentImportTests(Stage0Fixture world)
{
    ImportOptions Options(string root, string output) => new()
    {
        Out = output, Preset = "tiny",
        LlmFolder = ComponentFolders.Under(root).LlmFolder, SdFolder = ComponentFolders.Under(root).SdFolder,
        OpenClip = ComponentFolders.Under(root).OpenClipWeights,
    };

    string Copy()
    {
        var to = Path.Combine(world.Root, "import-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var f in Directory.GetFiles(world.Out, "*", SearchOption.AllDirectories).Where(f => !f.Contains("checkpoints")))
        {
            var dst = Path.Combine(to, Path.GetRelativePath(world.Out, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(f, dst);
        }
        return to;
    }

    static Dictionary<string, Tensor> Read(string path)
    {
        using var f = SafetensorsFile.Open(path);
        return f.LoadAll();
    }

    [Fact]
    public void ImportsTheComponentFoldersWithTheLlmAsShardedBin()
    {
        var root = Copy();
        // HF save_pretrained without safetensors: pytorch_model-0000k-of-00002.bin + pytorch_model.bin.index.json.
        var llmDir = ComponentFolders.Under(root).LlmFolder;
        var llm = Read(Path.Combine(llmDir, "model.safetensors"));
        File.Delete(Path.Combine(llmDir, "model.safetensors"));
        var keys = llm.Keys.Order(StringComparer.Ordinal).ToList();
        var map = new System.Text.Json.Nodes.JsonObject();
        for (int s = 0; s < 2; s++)
        {
            var name = $"pytorch_model-0000{s + 1}-of-00002.bin";
            var part = keys.Where((_, i) => i % 2 == s).ToList();
            TorchZipWriter.Save(Path.Combine(llmDir, name), part.Select(k => KeyValuePair.Create(k, llm[k])));
            foreach (var k in part) map[k] = name;
        }
        File.WriteAllText(Path.Combine(llmDir, ShardedTorchCheckpoint.IndexFileName), new System.Text.Json.Nodes.JsonObject { ["weight_map"] = map }.ToJsonString());

        var output = Path.Combine(root, "deem");
        var report = CheckpointImport.Run(Options(root, output));
        Assert.Equal("wordpiece", report.TokenizerKind);
        var (model, tok) = DeemCheckpoint.Load(output);
        using (model)
        {
            Assert.Equal(world.Tokenizer.Vocabulary, ((Deem.Text.WordPieceTextTokenizer)tok).Vocabulary);
            var sd = model.state_dict();
            Assert.True(sd["mm_decoder.layers.1.mlp.down_proj.weight"].allclose(llm["model.layers.1.mlp.down_proj.weight"], rtol: 0, atol: 0));
            var unet = Read(Path.Combine(root, "sd", "unet", ComponentFolders.DiffusersWeightsFile));
            Assert.True(sd["visual_tokenizer.encoder.unet.conv_in.weight"].allclose(unet["conv_in.weight"], rtol: 0, atol: 0));
        }
        foreach (var t in llm.Values) t.Dispose();
    }

    [Fact]
    public void AnExtraLlmTensorIsNamed()
    {
        var root = Copy();
        var path = Path.Combine(root, ComponentFolders.LlmDir, "model.safetensors");
        var llm = Read(path);
        llm["model.layers.0.self_attn.k_norm.weight"] = ones(8);
        SafetensorsWriter.Write(path, llm);
        var e = Assert.Throws<DeemFormatException>(() => CheckpointImport.Run(Options(root, Path.Combine(root, "deem"))));
        Assert.Equal("model.layers.0.self_attn.k_norm.weight", e.Key);
        Assert.Contains("unexpected LLM tensors", e.Message);
        foreach (var t in llm.Values) t.Dispose();
    }
}
