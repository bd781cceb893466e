using Deem.Tests.World.Pretraining;
using System.Text.Json;
using Deem.Config;
using Deem.IO;
using Deem.Model;
using Deem.World.Pretraining;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;
using S0 = Deem.World.Pretraining.Stage0;

namespace Deem.Tests.Model;

/// <summary>The stage-0 folders have the real layouts and key names, and the loader rebuilds a DEEM from them exactly.</summary>
[Collection(Stage0Collection.Name)]
public class ComponentLoaderTests(Stage0Fixture world)
{
    ComponentFolders Folders => ComponentFolders.Under(world.Out);

    static Dictionary<string, Tensor> Read(string path)
    {
        using var f = SafetensorsFile.Open(path);
        return f.LoadAll();
    }

    [Fact]
    public void WritesRealLayoutsWithRealKeyNames()
    {
        string P(params string[] parts) => Path.Combine([world.Out, .. parts]);
        foreach (var f in new[] { P("open_clip", "open_clip_config.json"), P("llm", "config.json"), P("llm", "tokenizer.vocab"),
                     P("sd", "model_index.json"), P("sd", "unet", "config.json"), P("sd", "vae", "config.json"),
                     P("sd", "scheduler", "scheduler_config.json"), P("sd", "text_encoder", "config.json"), P("deem_config.json"), P("stage0_summary.json") })
            Assert.True(File.Exists(f), f);
        Assert.Empty(Directory.GetFiles(world.Out, "*.tmp-*", SearchOption.AllDirectories));

        using (var clip = SafetensorsFile.Open(P("open_clip", "open_clip_model.safetensors")))
            foreach (var k in new[] { "visual.trunk.stem.0.weight", "visual.head.proj.weight", "token_embedding.weight", "text_projection", "logit_scale",
                         "transformer.resblocks.0.attn.in_proj_weight" })
                Assert.True(clip.Contains(k), k);
        using (var llm = SafetensorsFile.Open(P("llm", "model.safetensors")))
        {
            Assert.True(llm.Contains("model.layers.0.self_attn.q_proj.weight"));
            Assert.True(llm.Contains("lm_head.weight"));
            Assert.Equal(world.Tokenizer.Specials.BaseVocabSize, llm.Spec("model.embed_tokens.weight").Shape[0]);
            Assert.DoesNotContain(llm.Keys, k => k.Contains("cross_attn"));
        }
        using (var unet = SafetensorsFile.Open(P("sd", "unet", "diffusion_pytorch_model.safetensors")))
            Assert.True(unet.Contains("down_blocks.0.resnets.0.conv1.weight"));
        using (var vae = SafetensorsFile.Open(P("sd", "vae", "diffusion_pytorch_model.safetensors")))
            Assert.True(vae.Contains("encoder.conv_in.weight"));
        using (var te = SafetensorsFile.Open(P("sd", "text_encoder", "model.safetensors")))
            Assert.True(te.Contains("text_model.encoder.layers.0.self_attn.q_proj.weight"));

        using var cfg = JsonDocument.Parse(File.ReadAllText(P("open_clip", "open_clip_config.json")));
        var model = cfg.RootElement.GetProperty("model_cfg");
        Assert.Equal(32, model.GetProperty("embed_dim").GetInt32());
        Assert.Equal("linear", model.GetProperty("vision_cfg").GetProperty("timm_proj").GetString());
        Assert.Equal(16, model.GetProperty("text_cfg").GetProperty("context_length").GetInt32());
        using var llmCfg = JsonDocument.Parse(File.ReadAllText(P("llm", "config.json")));
        Assert.Equal("llama", llmCfg.RootElement.GetProperty("model_type").GetString());
        Assert.Equal(world.Tokenizer.Specials.BaseVocabSize, llmCfg.RootElement.GetProperty("vocab_size").GetInt32());
        using var unetCfg = JsonDocument.Parse(File.ReadAllText(P("sd", "unet", "config.json")));
        Assert.Equal("UNet2DConditionModel", unetCfg.RootElement.GetProperty("_class_name").GetString());
        var vaeCfg = ConfigJson.Load<VaeConfig>(P("sd", "vae", "config.json"));
        Assert.Equal(world.Summary.VaeScalingFactor, vaeCfg.ScalingFactor);
        var saved = DeemConfig.Load(P("deem_config.json"));
        Assert.Equal(world.Summary.VaeScalingFactor, saved.Vae.ScalingFactor);
        Assert.Equal(world.Tokenizer.Specials.BaseVocabSize, saved.BaseVocabSize);

        Assert.Equal(["clip", "llm", "vae", "unet"], world.Summary.Components.Select(c => c.Component));
        Assert.All(world.Summary.Components, c => Assert.True(c.Steps == 2 && double.IsFinite(c.FirstLoss) && c.Seconds > 0));
    }

    [Fact]
    public void LoaderBuildsADeemWhoseTensorsEqualTheSavedOnes()
    {
        using var scope = NewDisposeScope();
        var deem = S0.TinyConfig(world.Tokenizer);
        using var model = ComponentLoader.Build(deem, Folders, new Generator(9));
        var sd = model.state_dict();
        Assert.Equal(world.Summary.VaeScalingFactor, model.Config.Vae.ScalingFactor);

        var clip = Read(Folders.OpenClipWeights);
        var trunkKeys = clip.Keys.Where(k => k.StartsWith("visual.trunk.")).ToList();
        Assert.NotEmpty(trunkKeys);
        foreach (var k in trunkKeys)
            Assert.True(clip[k].allclose(sd["visual_tokenizer.sniffer.vision_model.visual.trunk." + k["visual.trunk.".Length..]], 0, 0), k);

        var llm = Read(Path.Combine(Folders.LlmFolder, "model.safetensors"));
        foreach (var (k, v) in llm.Where(kv => kv.Key.StartsWith("model.") && kv.Key != "model.embed_tokens.weight"))
            Assert.True(v.allclose(sd["mm_decoder." + k[6..]], 0, 0), k);
        // Resized embedding: base rows copied, the 6 new rows freshly drawn N(0, 0.02).
        var emb = sd["mm_decoder.embed_tokens.weight"];
        var baseRows = llm["model.embed_tokens.weight"];
        var V = baseRows.shape[0];
        Assert.Equal(V + 6, emb.shape[0]);
        Assert.True(emb.narrow(0, 0, V).allclose(baseRows, 0, 0));
        var fresh = emb.narrow(0, V, 6);
        Assert.True(fresh.abs().max().item<float>() < 0.2f && fresh.std().item<float>() > 0.005f);
        Assert.True(sd["text_decoder.head.weight"].narrow(0, 0, V).allclose(llm["lm_head.weight"], 0, 0));

        foreach (var (file, prefix) in new[] { ("unet", "visual_tokenizer.encoder.unet."), ("vae", "visual_tokenizer.encoder.vae.") })
        {
            var saved = Read(Path.Combine(Folders.SdFolder, file, "diffusion_pytorch_model.safetensors"));
            Assert.NotEmpty(saved);
            foreach (var (k, v) in saved) Assert.True(v.allclose(sd[prefix + k], 0, 0), k);
        }

        // Null embedding = the trained CLIP text tower on the empty prompt.
        using var clipModel = new ClipModel(deem.Vision, S0.ClipTextFor(deem, world.Tokenizer));
        StateDicts.LoadStrict(clipModel, Folders.OpenClipWeights);
        clipModel.eval();
        var expected = Deem.World.Pretraining.UNetTrainer.EmptyPromptStates(clipModel.Text);
        Assert.True(expected.allclose(model.ImageDecoder!.NullEmbedding, 1e-5, 1e-6));
    }

    [Fact]
    public void MissingOrMisshapenKeysAreNamed()
    {
        var deem = S0.TinyConfig(world.Tokenizer);
        var copy = Path.Combine(world.Root, "broken-" + Guid.NewGuid().ToString("N"));
        CopyDir(world.Out, copy);
        var folders = ComponentFolders.Under(copy);

        // An LLM tensor removed.
        var llmPath = Path.Combine(folders.LlmFolder, "model.safetensors");
        var llm = Read(llmPath);
        llm.Remove("model.layers.1.mlp.down_proj.weight");
        SafetensorsWriter.Write(llmPath, llm);
        var e1 = Assert.Throws<DeemFormatException>(() => ComponentLoader.Build(deem, folders));
        Assert.Equal("model.layers.1.mlp.down_proj.weight", e1.Key);
        CopyDir(world.Out, copy);

        // A trunk tensor with the wrong shape.
        var clip = Read(folders.OpenClipWeights);
        clip["visual.trunk.stem.0.bias"] = zeros(3);
        SafetensorsWriter.Write(folders.OpenClipWeights, clip);
        var e2 = Assert.Throws<DeemFormatException>(() => ComponentLoader.Build(deem, folders));
        Assert.Equal("visual.trunk.stem.0.bias", e2.Key);
        CopyDir(world.Out, copy);

        // A UNet tensor renamed: both the missing and the unexpected name appear.
        var unetPath = Path.Combine(folders.SdFolder, "unet", "diffusion_pytorch_model.safetensors");
        var unet = Read(unetPath);
        unet["down_blocks.0.resnets.0.conv9.weight"] = unet["down_blocks.0.resnets.0.conv1.weight"];
        unet.Remove("down_blocks.0.resnets.0.conv1.weight");
        SafetensorsWriter.Write(unetPath, unet);
        var e3 = Assert.Throws<DeemFormatException>(() => ComponentLoader.Build(deem, folders));
        Assert.Contains("down_blocks.0.resnets.0.conv1.weight", e3.Message);
        Assert.Contains("down_blocks.0.resnets.0.conv9.weight", e3.Message);
    }

    static void CopyDir(string from, string to)
    {
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var dst = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(f, dst, overwrite: true);
        }
    }
}
