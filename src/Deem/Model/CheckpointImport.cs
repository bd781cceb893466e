using Deem.Config;
using Deem.IO;
using Deem.Text;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>What <c>deem import</c> reads and writes.</summary>
public sealed record ImportOptions
{
    /// <summary>The DEEM model folder to write.</summary>
    public required string Out { get; init; }

    /// <summary>The authors' DEEM / MM-Interleaved checkpoint: <c>pytorch_model.bin</c>, a sharded <c>.bin</c> or
    /// safetensors index, a <c>.safetensors</c> file, or the folder holding one. Null: build from the components.</summary>
    public string? Checkpoint { get; init; }

    /// <summary>The tokenizer (folder or file); default: the LLM folder's.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>HF LLaMA / Vicuna folder: its config.json sets the LLM config; with no checkpoint, its weights are loaded.</summary>
    public string? LlmFolder { get; init; }

    /// <summary>diffusers Stable Diffusion folder: its unet/vae/scheduler configs; with no checkpoint, its weights.</summary>
    public string? SdFolder { get; init; }

    /// <summary>open_clip ConvNeXt weights file (components only).</summary>
    public string? OpenClip { get; init; }

    /// <summary>The config preset when the checkpoint folder has no <c>deem_config.json</c>.</summary>
    public string Preset { get; init; } = "paper-7b";

    /// <summary>fp32, bf16, fp16 (floating tensors converted) or keep.</summary>
    public string Dtype { get; init; } = "keep";

    /// <summary>Largest shard; a model that fits is one <c>model.safetensors</c>.</summary>
    public long MaxShardBytes { get; init; } = 5L << 30;
}

/// <summary>What an import wrote.</summary>
/// <param name="Out">The model folder.</param>
/// <param name="Source">What was read.</param>
/// <param name="Tensors">Tensors written.</param>
/// <param name="Parameters">Elements written.</param>
/// <param name="CheckedExtras">Checkpoint keys of the known extras, each checked and not written.</param>
/// <param name="TokenizerKind">The tokenizer's kind.</param>
/// <param name="Files">Weight files written (1, or the shards).</param>
public sealed record ImportReport(string Out, string Source, int Tensors, long Parameters, IReadOnlyList<string> CheckedExtras,
    string TokenizerKind, int Files);

/// <summary>
/// Real checkpoints into a DEEM model folder (<see cref="DeemCheckpoint"/>: config, tokenizer with its kind,
/// safetensors with an index when sharded). From the authors' checkpoint the keys map one to one (this
/// model's state-dict keys are the published ones), strictly: every model key must be there with its shape,
/// and every checkpoint key must be a model key or one of <see cref="KnownCheckpointExtras"/> (checked, then
/// left out); all missing, unexpected and misshapen keys are named in one error. From the component folders
/// the model is built by <see cref="ComponentLoader"/>. The config comes from the checkpoint folder's
/// <c>deem_config.json</c> or the preset, with the LLM and diffusion parts from the HF / diffusers config.json
/// files given, and the vocabulary from the tokenizer (Vicuna: 32000 + 6, pad 31999).
/// </summary>
public static class CheckpointImport
{
    public static ImportReport Run(ImportOptions o)
    {
        var target = DtypeOf(o.Dtype);
        string tokenizerPath = o.Tokenizer ?? o.LlmFolder
            ?? (o.Checkpoint is { } c && Directory.Exists(c) && TokenizerFiles.Exists(c) ? c
                : throw new DeemConfigException("deem import", "--tokenizer", "give the tokenizer (a Vicuna folder or tokenizer.model) or --llm"));
        var tokenizer = TokenizerFiles.LoadFile(tokenizerPath);
        var config = ResolveConfig(o, tokenizer.Specials);
        if (o.Checkpoint is null) return FromComponents(o, config, tokenizer, target);

        using var source = IO.Checkpoint.Open(o.Checkpoint);
        if (source is ShardedTorchCheckpoint sharded) sharded.ReadSpecs();     // each .bin shard read once for the checks
        var expected = ParameterCount.OnMeta(() =>
        {
            using var meta = new DeemModel(config);
            return meta.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
        });
        var extras = source.Keys.Where(k => !expected.ContainsKey(k) && KnownCheckpointExtras.Find(k) is not null).ToList();
        var missing = expected.Keys.Where(k => !source.Contains(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = source.Keys.Where(k => !expected.ContainsKey(k) && !extras.Contains(k)).ToList();
        var misshapen = expected.Where(kv => source.Contains(kv.Key) && !source.Spec(kv.Key).Shape.SequenceEqual(kv.Value))
            .Select(kv => $"{kv.Key} (checkpoint {source.Spec(kv.Key).ShapeText} vs model [{string.Join(", ", kv.Value)}])").ToList();
        var problems = new List<string>();
        if (missing.Count > 0) problems.Add($"missing keys ({missing.Count}): {string.Join(", ", missing)}");
        if (unexpected.Count > 0) problems.Add($"unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected)}");
        if (misshapen.Count > 0) problems.Add($"wrong shapes ({misshapen.Count}): {string.Join(", ", misshapen)}");
        foreach (var k in extras)
        {
            using var t = source.Load(k);
            if (KnownCheckpointExtras.Find(k)!.Check(t, config) is { } why) problems.Add($"known extra {k}: {why}");
        }
        if (problems.Count > 0)
            throw new DeemFormatException(source.Path, $"checkpoint does not fit the {config.Name} model: {string.Join("; ", problems)}");

        // A sharded .bin holds one shard in memory: write its tensors in shard order, so each is read once more.
        var order = source is ShardedTorchCheckpoint shards ? shards.KeysByShard.Where(expected.ContainsKey) : expected.Keys.Order(StringComparer.Ordinal);
        var plan = order.Select(k => (k, SpecAfter(source.Spec(k), target))).ToList();
        int files = Write(o.Out, config, tokenizer, plan, k => Convert(source.Load(k), target), o.MaxShardBytes, source.Path);
        return new ImportReport(o.Out, source.Path, plan.Count, expected.Keys.Sum(k => source.Spec(k).NumElements), extras, tokenizer.Kind, files);
    }

    static TensorSpec SpecAfter(TensorSpec spec, ScalarType? target) =>
        target is ScalarType d && IsFloating(spec.Dtype) ? spec with { Dtype = d } : spec;

    static bool IsFloating(ScalarType t) => t is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64;

    static ImportReport FromComponents(ImportOptions o, DeemConfig config, ITextTokenizer tokenizer, ScalarType? target)
    {
        if (o.LlmFolder is null || o.SdFolder is null || o.OpenClip is null)
            throw new DeemConfigException("deem import", "--checkpoint", "give the DEEM checkpoint, or all of --llm, --sd and --open-clip");
        using var model = ComponentLoader.Build(config, new ComponentFolders(o.OpenClip, o.LlmFolder, o.SdFolder), new Generator(0));
        var state = model.state_dict();
        var plan = state.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, SpecAfter(new TensorSpec(kv.Value.dtype, kv.Value.shape), target))).ToList();
        int files = Write(o.Out, model.Config, tokenizer, plan, k => Convert(state[k].detach().clone(), target), o.MaxShardBytes, o.LlmFolder);
        return new ImportReport(o.Out, $"{o.LlmFolder}, {o.SdFolder}, {o.OpenClip}", plan.Count, state.Values.Sum(t => t.numel()), [], tokenizer.Kind, files);
    }

    /// <summary>The checkpoint folder's deem_config.json or the preset; LLM and diffusion configs from the
    /// HF / diffusers folders given; the vocabulary and special ids from the tokenizer.</summary>
    public static DeemConfig ResolveConfig(ImportOptions o, SpecialTokens tokens)
    {
        string? own = o.Checkpoint is { } c && Directory.Exists(c) && File.Exists(Path.Combine(c, DeemCheckpoint.ConfigFile))
            ? Path.Combine(c, DeemCheckpoint.ConfigFile) : null;
        var config = own is not null ? DeemConfig.Load(own) : DeemConfig.Preset(o.Preset, tokens);
        string source = own ?? $"--preset {o.Preset}";
        if (o.LlmFolder is not null && File.Exists(Path.Combine(o.LlmFolder, "config.json")))
        {
            var path = Path.Combine(o.LlmFolder, "config.json");
            var hf = ConfigJson.Load<LlamaConfig>(path);
            if (hf.VocabSize != tokens.BaseVocabSize)
                throw new DeemConfigException(path, "vocab_size", $"{hf.VocabSize}, but the tokenizer has {tokens.BaseVocabSize} base ids");
            config = config with { Llm = hf };
            source = path;
        }
        if (o.SdFolder is not null && config.BuildDiffusion)
            config = config with
            {
                UNet = ConfigJson.Load<UNetConfig>(Path.Combine(o.SdFolder, "unet", "config.json")),
                Vae = ConfigJson.Load<VaeConfig>(Path.Combine(o.SdFolder, "vae", "config.json")),
                Scheduler = ConfigJson.Load<SchedulerConfig>(Path.Combine(o.SdFolder, "scheduler", "scheduler_config.json")),
            };
        config = config with
        {
            Llm = config.Llm with { VocabSize = tokens.VocabSize, BosTokenId = tokens.Bos, EosTokenId = tokens.Eos, PadTokenId = tokens.Pad },
            BaseVocabSize = tokens.BaseVocabSize,
        };
        config.Validate(source);
        return config;
    }

    static int Write(string folder, DeemConfig config, ITextTokenizer tokenizer, IReadOnlyList<(string Key, TensorSpec Spec)> plan, Func<string, Tensor> load,
        long maxShardBytes, string source)
    {
        Directory.CreateDirectory(folder);
        config.Save(Path.Combine(folder, DeemCheckpoint.ConfigFile));
        TokenizerFiles.Save(folder, tokenizer);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["imported_from"] = Path.GetFileName(Path.TrimEndingDirectorySeparator(source)) };
        return ShardPlanWriter.Write(folder, plan, load, maxShardBytes, metadata);           // weights last: a folder with weights is complete
    }

    static Tensor Convert(Tensor t, ScalarType? target)
    {
        if (target is not ScalarType d || !t.is_floating_point() || t.dtype == d) return t;
        var converted = t.to(d);
        t.Dispose();
        return converted;
    }

    static ScalarType? DtypeOf(string name) => name switch
    {
        "keep" => null,
        "fp32" => ScalarType.Float32,
        "bf16" => ScalarType.BFloat16,
        "fp16" => ScalarType.Float16,
        _ => throw new DeemConfigException("--dtype", "dtype", $"expected fp32, bf16, fp16 or keep, found '{name}'"),
    };
}
