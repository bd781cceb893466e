using System.Text.Json.Nodes;
using Deem.Config;
using Deem.Diffusion;
using Deem.IO;
using Deem.Language;
using Deem.Model;
using Deem.Text;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.World.Pretraining;

/// <summary>
/// Writes the stage-0 components in the layouts of the real checkpoints DEEM loads (reference §1.2,
/// §1.6, §1.9), so later stages read them with the same code as the published weights:
/// <code>
/// open_clip/open_clip_model.safetensors    open_clip CLIP keys (visual.trunk.*, visual.head.proj.weight, text tower, logit_scale)
/// open_clip/open_clip_config.json          {"model_cfg": {embed_dim, vision_cfg, text_cfg}, "preprocess_cfg": {mean, std}}
/// llm/config.json + model.safetensors      HF LlamaForCausalLM (model.*, lm_head.weight) + tokenizer.vocab
/// sd/model_index.json                      diffusers pipeline index
/// sd/unet/config.json + diffusion_pytorch_model.safetensors
/// sd/vae/config.json + diffusion_pytorch_model.safetensors
/// sd/scheduler/scheduler_config.json
/// sd/text_encoder/config.json + model.safetensors   HF CLIPTextModel (text_model.*) of the CLIP text tower
/// sd/tokenizer/tokenizer.vocab
/// </code>
/// Every file is written atomically; weights go after their config, so a folder with weights is complete.
/// </summary>
public static class ComponentWriters
{
    public const string OpenClipConfig = "open_clip_config.json";
    public const string DiffusersVersion = "0.20.0";

    /// <summary>open_clip layout of a CLIP model trained at <paramref name="imageSize"/> px.</summary>
    public static void WriteClip(string root, ClipModel clip, int imageSize)
    {
        var weights = ComponentFolders.Under(root).OpenClipWeights;
        var dir = Path.GetDirectoryName(weights)!;
        var v = clip.VisionConfig;
        var trunk = v.Trunk;
        var text = clip.Text.Config;
        var visionCfg = new JsonObject
        {
            ["timm_model_name"] = TimmName(trunk),
            ["timm_model_pretrained"] = false,
            ["timm_pool"] = "",
            ["timm_proj"] = v.ProjHead,
            ["timm_drop"] = 0.0,
            ["timm_drop_path"] = trunk.DropPathRate,
            ["image_size"] = imageSize,
            // The exact trunk shape (the tiny trunk is no registered timm model); open_clip ignores it.
            ["convnext"] = JsonNode.Parse(ConfigJson.ToJson(trunk)),
        };
        var config = new JsonObject
        {
            ["model_cfg"] = new JsonObject
            {
                ["embed_dim"] = text.EmbedDim,
                ["vision_cfg"] = visionCfg,
                ["text_cfg"] = JsonNode.Parse(ConfigJson.ToJson(text)),
            },
            ["preprocess_cfg"] = new JsonObject
            {
                ["mean"] = new JsonArray(ImageEncoder.ClipMean.Select(x => (JsonNode)JsonValue.Create(x)).ToArray()),
                ["std"] = new JsonArray(ImageEncoder.ClipStd.Select(x => (JsonNode)JsonValue.Create(x)).ToArray()),
            },
        };
        AtomicFile.WriteAllText(Path.Combine(dir, OpenClipConfig), config.ToJsonString(ConfigJson.Options));
        StateDicts.Save(clip, weights, Metadata("open_clip"));
    }

    /// <summary>
    /// HF layout of a LLaMA causal LM (keys by <see cref="HfLlamaKeys"/>, the map the loader reads them with),
    /// with the world tokenizer's vocabulary beside it.
    /// </summary>
    public static void WriteLlm(string root, LlamaForCausalLM llm, LlamaConfig config, WordPieceTextTokenizer tokenizer)
    {
        var dir = ComponentFolders.Under(root).LlmFolder;
        var json = (JsonObject)JsonNode.Parse(ConfigJson.ToJson(config))!;
        json.Insert(0, "architectures", new JsonArray("LlamaForCausalLM"));
        json.Insert(1, "model_type", "llama");
        json["torch_dtype"] = "float32";
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString(ConfigJson.Options));
        tokenizer.Save(Path.Combine(dir, DeemTokenizerFile));
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), HfLlamaKeys.ToHf(llm.Model.state_dict(), llm.LmHeadWeight), Metadata("pt"));
    }

    /// <summary>The tokenizer vocabulary file name beside the LLM and in <c>sd/tokenizer</c>.</summary>
    public const string DeemTokenizerFile = "tokenizer.vocab";

    /// <summary>
    /// diffusers layout of the VAE, <c>sd/vae/</c> (its config carries the measured scaling factor). Written as
    /// soon as the VAE is trained, so a resumed stage 0 keeps it; <see cref="WriteDiffusion"/> completes the folder.
    /// </summary>
    public static void WriteVae(string root, AutoencoderKL vae)
    {
        var sd = ComponentFolders.Under(root).SdFolder;
        WriteDiffusersConfig(Path.Combine(sd, "vae", "config.json"), "AutoencoderKL", vae.Config);
        StateDicts.Save(vae, Path.Combine(sd, "vae", ComponentFolders.DiffusersWeightsFile), Metadata("pt"));
    }

    /// <summary>
    /// diffusers layout of the rest of the pipeline beside the VAE <see cref="WriteVae"/> wrote: UNet, DDPM
    /// scheduler, the text encoder (HF CLIPTextModel keys) and its tokenizer, and <c>model_index.json</c>; the
    /// UNet's weights last, so a folder with them is complete.
    /// </summary>
    public static void WriteDiffusion(string root, UNet2DConditionModel unet, SchedulerConfig scheduler,
        ClipTextEncoder textEncoder, WordPieceTextTokenizer tokenizer)
    {
        var sd = ComponentFolders.Under(root).SdFolder;
        var index = new JsonObject
        {
            ["_class_name"] = "StableDiffusionPipeline",
            ["_diffusers_version"] = DiffusersVersion,
            ["scheduler"] = new JsonArray("diffusers", "DDPMScheduler"),
            ["text_encoder"] = new JsonArray("transformers", "CLIPTextModel"),
            ["tokenizer"] = new JsonArray("deem", "WordPieceTextTokenizer"),
            ["unet"] = new JsonArray("diffusers", "UNet2DConditionModel"),
            ["vae"] = new JsonArray("diffusers", "AutoencoderKL"),
        };
        AtomicFile.WriteAllText(Path.Combine(sd, "model_index.json"), index.ToJsonString(ConfigJson.Options));

        WriteDiffusersConfig(Path.Combine(sd, "scheduler", "scheduler_config.json"), "DDPMScheduler", scheduler);

        var te = Path.Combine(sd, "text_encoder");
        var hf = HfClipTextConfig.FromOpenClip(textEncoder.Config);
        AtomicFile.WriteAllText(Path.Combine(te, "config.json"), ConfigJson.ToJson(hf));
        using (var scope = NewDisposeScope())
        {
            var openClip = textEncoder.state_dict();
            var tensors = HfClipTextKeys.ToHf(openClip, textEncoder.Config.Layers)       // the map the loader reads them with
                .ToDictionary(kv => kv.Key, kv => kv.Value.contiguous());
            SafetensorsWriter.Write(Path.Combine(te, "model.safetensors"), tensors, Metadata("pt"));
        }
        tokenizer.Save(Path.Combine(sd, "tokenizer", DeemTokenizerFile));

        // The UNet's weights last: when they are there, the folder is complete.
        WriteDiffusersConfig(Path.Combine(sd, "unet", "config.json"), "UNet2DConditionModel", unet.Config);
        StateDicts.Save(unet, Path.Combine(sd, "unet", ComponentFolders.DiffusersWeightsFile), Metadata("pt"));
    }

    static void WriteDiffusersConfig<T>(string path, string className, T config)
    {
        var json = (JsonObject)JsonNode.Parse(ConfigJson.ToJson(config))!;
        json.Insert(0, "_class_name", className);
        json.Insert(1, "_diffusers_version", DiffusersVersion);
        AtomicFile.WriteAllText(path, json.ToJsonString(ConfigJson.Options));
    }

    /// <summary>The timm name when the trunk is a registered ConvNeXt, else a descriptive name.</summary>
    static string TimmName(ConvNextConfig trunk)
    {
        foreach (var name in new[] { "convnext_tiny", "convnext_small", "convnext_base", "convnext_large", "convnext_xlarge" })
        {
            var known = ConvNextConfig.FromTimmName(name, trunk.DropPathRate, "timm");
            if (known.Depths.SequenceEqual(trunk.Depths) && known.Dims.SequenceEqual(trunk.Dims)) return name;
        }
        return $"convnext_deem_{string.Join("x", trunk.Dims)}";
    }

    static Dictionary<string, string> Metadata(string format) => new() { ["format"] = format };
}
