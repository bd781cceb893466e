using System.Text.Json;
using Deem.Config;
using Deem.Diffusion;
using Deem.IO;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>Where the pretrained components live (real downloads or stage-0 output).</summary>
/// <param name="OpenClipWeights">open_clip checkpoint file (<c>open_clip_pytorch_model.bin</c> or <c>.safetensors</c>).</param>
/// <param name="LlmFolder">HF LLaMA folder (<c>config.json</c> + <c>model.safetensors</c> / shards / <c>pytorch_model.bin</c>).</param>
/// <param name="SdFolder">diffusers Stable Diffusion folder (<c>unet/</c>, <c>vae/</c>, <c>scheduler/</c>, <c>text_encoder/</c>).</param>
public sealed record ComponentFolders(string OpenClipWeights, string LlmFolder, string SdFolder)
{
    public const string OpenClipDir = "open_clip";
    public const string OpenClipWeightsFile = "open_clip_model.safetensors";
    public const string LlmDir = "llm";
    public const string SdDir = "sd";
    /// <summary>The weights file of a diffusers model folder (<c>unet/</c>, <c>vae/</c>) as <c>save_pretrained</c> writes it.</summary>
    public const string DiffusersWeightsFile = "diffusion_pytorch_model.safetensors";

    /// <summary>The layout stage 0 writes under <paramref name="root"/> (the components' folders side by side).</summary>
    public static ComponentFolders Under(string root) => new(
        Path.Combine(root, OpenClipDir, OpenClipWeightsFile), Path.Combine(root, LlmDir), Path.Combine(root, SdDir));
}

/// <summary>
/// Builds a DEEM from pretrained components the way the authors' code does from the released
/// checkpoints (reference §1.2, §1.5–§1.9): the sniffer trunk from the open_clip file
/// (<c>visual.trunk.*</c> only, strict; the text tower and <c>visual.head.*</c> are ignored); the LLM body
/// from the HF LLaMA folder (<c>model.*</c> → <c>mm_decoder.*</c>, the embedding resized from the base
/// vocabulary to base + 6 rows as HF <c>resize_token_embeddings</c> does: old rows copied, new rows
/// N(0, initializer_range)); the text head's base rows from <c>lm_head.weight</c>; UNet and VAE from the
/// diffusers folders (strict); the image decoder's null embedding from the SD text encoder's last states
/// on the empty prompt. Every other part (adapters, Q-Formers, MMFS, projections) keeps its initialisation.
/// Errors name the file and the missing, unexpected or misshapen key.
/// </summary>
public static class ComponentLoader
{
    /// <summary>
    /// <paramref name="deem"/> with the UNet, VAE and scheduler configs read from the diffusers folder
    /// (as <c>from_pretrained</c> reads them, e.g. the VAE's scaling factor), after checking that the
    /// LLM folder's config has the shape <paramref name="deem"/> expects.
    /// </summary>
    public static DeemConfig ResolveConfig(DeemConfig deem, ComponentFolders folders)
    {
        var llmConfigPath = Path.Combine(folders.LlmFolder, "config.json");
        var llm = ConfigJson.Load<LlamaConfig>(llmConfigPath);
        void Same(long found, long expected, string field)
        {
            if (found != expected) throw new DeemConfigException(llmConfigPath, field, $"expected {expected} (the DEEM config's LLM), found {found}");
        }
        Same(llm.HiddenSize, deem.Llm.HiddenSize, "hidden_size");
        Same(llm.IntermediateSize, deem.Llm.IntermediateSize, "intermediate_size");
        Same(llm.NumHiddenLayers, deem.Llm.NumHiddenLayers, "num_hidden_layers");
        Same(llm.NumAttentionHeads, deem.Llm.NumAttentionHeads, "num_attention_heads");
        Same(llm.KeyValueHeads, deem.Llm.KeyValueHeads, "num_key_value_heads");
        Same(llm.VocabSize, deem.BaseVocabSize, "vocab_size");
        if (!deem.BuildDiffusion) return deem;
        var resolved = deem with
        {
            UNet = ConfigJson.Load<UNetConfig>(Path.Combine(folders.SdFolder, "unet", "config.json")),
            Vae = ConfigJson.Load<VaeConfig>(Path.Combine(folders.SdFolder, "vae", "config.json")),
            Scheduler = ConfigJson.Load<SchedulerConfig>(Path.Combine(folders.SdFolder, "scheduler", "scheduler_config.json")),
        };
        resolved.Validate(folders.SdFolder);
        return resolved;
    }

    /// <summary>A DEEM built from <see cref="ResolveConfig"/> with every pretrained part loaded.</summary>
    public static DeemModel Build(DeemConfig deem, ComponentFolders folders, Generator? generator = null)
    {
        var config = ResolveConfig(deem, folders);
        var model = new DeemModel(config, generator);
        try
        {
            LoadSnifferTrunk(model.VisualTokenizer.Sniffer, folders.OpenClipWeights);
            LoadLlm(model, folders.LlmFolder, generator);
            if (model.Diffusion is { } sd)
            {
                LoadDiffusion(sd, folders.SdFolder);
                using var scope = NewDisposeScope();
                var nullEmbedding = NullEmbedding(folders.SdFolder);
                try { model.ImageDecoder!.InitNullEmbedding(nullEmbedding); }
                catch (ArgumentException e)
                {
                    throw new DeemFormatException(Path.Combine(folders.SdFolder, "text_encoder", "config.json"),
                        $"the text encoder's empty-prompt states do not fit the image decoder's null embedding: {e.Message}", "max_position_embeddings", e);
                }
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>The trunk tensors of an open_clip checkpoint into the sniffer (strict on <c>visual.trunk.*</c>).</summary>
    public static void LoadSnifferTrunk(ImageEncoder sniffer, string openClipWeights)
    {
        using var source = Checkpoint.Open(openClipWeights);
        using var scope = NewDisposeScope();
        var trunk = source.Keys.Where(k => k.StartsWith(OpenClipConvNextKeys.OpenClipTrunkPrefix, StringComparison.Ordinal))
            .ToDictionary(k => k, source.Load, StringComparer.Ordinal);
        OpenClipConvNextKeys.LoadTrunk(sniffer, trunk, source.Path);
    }

    /// <summary>
    /// HF LLaMA weights into <c>mm_decoder</c> and <c>text_decoder.head</c>. Strict: every body tensor
    /// except the new MMFS cross-attention must be in the file, and every <c>model.*</c> file tensor must
    /// exist in the body (RoPE <c>inv_freq</c> buffers of old checkpoints are skipped).
    /// </summary>
    public static void LoadLlm(DeemModel model, string llmFolder, Generator? generator = null)
    {
        using var source = Checkpoint.Open(llmFolder);
        var target = model.Llm.state_dict();
        var fileKeys = source.Keys.Where(k => !HfLlamaKeys.IsIgnored(k)).ToList();
        var unexpected = fileKeys.Where(k => k != HfLlamaKeys.LmHead && !(HfLlamaKeys.ToBody(k) is { } body && target.ContainsKey(body))).ToList();
        var missing = target.Keys.Where(k => !HfLlamaKeys.IsDeemOnly(k) && !source.Contains(HfLlamaKeys.ToHf(k)))
            .Select(HfLlamaKeys.ToHf).ToList();
        if (!source.Contains(HfLlamaKeys.LmHead)) missing.Add(HfLlamaKeys.LmHead);
        if (missing.Count > 0)
            throw new DeemFormatException(source.Path, $"missing LLM tensors ({missing.Count}): {string.Join(", ", missing)}", missing[0]);
        if (unexpected.Count > 0)
            throw new DeemFormatException(source.Path, $"unexpected LLM tensors ({unexpected.Count}): {string.Join(", ", unexpected)}", unexpected[0]);

        var config = model.Config;
        using var noGrad = no_grad();
        foreach (var (key, dst) in target)
        {
            if (HfLlamaKeys.IsDeemOnly(key)) continue;
            var fileKey = HfLlamaKeys.ToHf(key);
            var spec = source.Spec(fileKey);
            if (key == HfLlamaKeys.EmbedTokens)
            {
                if (spec.Shape.Length != 2 || spec.Shape[1] != dst.shape[1] || spec.Shape[0] < config.BaseVocabSize || spec.Shape[0] > dst.shape[0])
                    throw new DeemFormatException(source.Path,
                        $"shape {spec.ShapeText}, expected [{config.BaseVocabSize}…{dst.shape[0]}, {dst.shape[1]}]", fileKey);
                using var rows = source.Load(fileKey);
                var old = rows.shape[0];
                dst.narrow(0, 0, old).copy_(rows);
                // HF resize_token_embeddings: the appended rows get the model's N(0, initializer_range) init.
                if (old < dst.shape[0]) dst.narrow(0, old, dst.shape[0] - old).normal_(0.0, config.Llm.InitializerRange, generator);
                continue;
            }
            if (!spec.Shape.SequenceEqual(dst.shape))
                throw new DeemFormatException(source.Path,
                    $"shape {spec.ShapeText}, expected [{string.Join(", ", dst.shape)}]", fileKey);
            using var value = source.Load(fileKey);
            dst.copy_(value);
        }
        using var lmHead = source.Load(HfLlamaKeys.LmHead);
        try { model.TextHead.LoadLmHead(lmHead); }
        catch (ArgumentException e) { throw new DeemFormatException(source.Path, e.Message, HfLlamaKeys.LmHead, e); }
    }

    /// <summary>diffusers UNet and VAE weights (strict on every key) into the SD wrapper; MMFSNet keeps its init.</summary>
    public static void LoadDiffusion(StableDiffusion sd, string sdFolder)
    {
        StateDicts.LoadStrict(sd.UNet, DiffusersWeights(Path.Combine(sdFolder, "unet")));
        StateDicts.LoadStrict(sd.Vae, DiffusersWeights(Path.Combine(sdFolder, "vae")));
    }

    /// <summary>
    /// The SD text encoder's last hidden states on the empty prompt, padded to its context length
    /// ([1, ctx, W]; SD 2.1: [1, 77, 1024]), DEEM's initial <c>neg_prompt_embeds</c> (reference §1.8).
    /// </summary>
    public static Tensor NullEmbedding(string sdFolder)
    {
        var dir = Path.Combine(sdFolder, "text_encoder");
        var configPath = Path.Combine(dir, "config.json");
        var hf = ConfigJson.Load<HfClipTextConfig>(configPath);
        var (bos, eos, pad) = PromptIds(sdFolder, hf);
        var config = hf.ToOpenClip(configPath, bos, eos, pad);
        using var encoder = new ClipTextEncoder(config);
        using (var source = Checkpoint.Open(dir))
        using (var scope = NewDisposeScope())
        {
            var tensors = source.Keys.ToDictionary(k => k, source.Load, StringComparer.Ordinal);
            var mapped = HfClipTextKeys.FromHf(tensors, hf.NumHiddenLayers, source.Path);
            using var noGrad = no_grad();
            var target = encoder.state_dict();
            foreach (var (key, dst) in target)
            {
                var value = mapped[key];
                if (!value.shape.SequenceEqual(dst.shape))
                    throw new DeemFormatException(source.Path, $"shape [{string.Join(", ", value.shape)}], expected [{string.Join(", ", dst.shape)}] (open_clip key {key})");
                dst.copy_(value);
            }
        }
        encoder.eval();
        using var outer = NewDisposeScope();
        using var grad = no_grad();
        var ids = ClipTextEncoder.Tokenize([Array.Empty<int>()], config);                        // [1, ctx]
        return encoder.forward(ids).LastHiddenState.MoveToOuterDisposeScope();                    // [1, ctx, W]
    }

    /// <summary>
    /// Start, end and pad ids of the empty prompt: from a CLIP BPE tokenizer folder when present
    /// (<c>tokenizer/vocab.json</c> + <c>special_tokens_map.json</c>: SD 2.1's config carries placeholder
    /// ids), else from the text encoder config.
    /// </summary>
    static (int Bos, int Eos, int Pad) PromptIds(string sdFolder, HfClipTextConfig hf)
    {
        var vocabPath = Path.Combine(sdFolder, "tokenizer", "vocab.json");
        if (!File.Exists(vocabPath)) return (hf.BosTokenId, hf.EosTokenId, hf.PadTokenId);
        using var vocab = JsonDocument.Parse(File.ReadAllBytes(vocabPath));
        int Id(string token) => vocab.RootElement.TryGetProperty(token, out var v) ? v.GetInt32()
            : throw new DeemFormatException(vocabPath, "token not in the vocabulary", token);
        var padToken = "<|endoftext|>";
        var mapPath = Path.Combine(sdFolder, "tokenizer", "special_tokens_map.json");
        if (File.Exists(mapPath))
        {
            using var map = JsonDocument.Parse(File.ReadAllBytes(mapPath));
            if (map.RootElement.TryGetProperty("pad_token", out var p))
                padToken = p.ValueKind == JsonValueKind.String ? p.GetString()! : p.GetProperty("content").GetString()!;
        }
        return (Id("<|startoftext|>"), Id("<|endoftext|>"), Id(padToken));
    }

    /// <summary>The weights of a diffusers model folder: single safetensors, sharded index, or .bin.</summary>
    static string DiffusersWeights(string folder)
    {
        foreach (var name in new[] { ComponentFolders.DiffusersWeightsFile, ComponentFolders.DiffusersWeightsFile + ".index.json", "diffusion_pytorch_model.bin" })
        {
            var path = Path.Combine(folder, name);
            if (File.Exists(path)) return path;
        }
        throw new DeemFormatException(folder, "no diffusion_pytorch_model.safetensors, .safetensors.index.json or .bin");
    }
}
