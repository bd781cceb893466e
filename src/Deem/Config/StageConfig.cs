using System.Reflection;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Deem.Config;

/// <summary>One learning-rate rule: a parameter whose name contains <see cref="Match"/> gets this LR.</summary>
public sealed record LrGroupRule
{
    /// <summary>Substring of the parameter name (first matching rule wins, as in the authors' trainer).</summary>
    public string Match { get; init; } = "";
    public double Lr { get; init; }
    /// <summary>Overrides the stage weight decay for this group (e.g. 0 for the MMFS gates).</summary>
    public double? WeightDecay { get; init; }
}

/// <summary>
/// Everything one DEEM training stage needs (paper §2.3 and Table 11; reference §3): what is frozen,
/// which losses are on and their weights (λ, Eq. 5 context), optimiser and schedule, batch and
/// data shape. One YAML file per stage; the paper's values are the <c>paper-7b</c> files, scaled
/// values the <c>tiny</c> ones (both embedded in the library, see <see cref="Load"/>).
/// </summary>
public sealed record StageConfig
{
    public string Name { get; init; } = "";
    /// <summary>0 = component pretraining on the world, 1 = alignment pretraining, 2 = image-text SFT, 3 = mask-text SFT.</summary>
    public int Stage { get; init; }
    public bool FreezeLlm { get; init; }
    public bool FreezeVfm { get; init; }
    public bool FreezeDm { get; init; }
    /// <summary>Stage 3: prepend the mask-aware extractor's 5 tokens (reference §1.10).</summary>
    public bool MaskAlign { get; init; }
    public double NtpWeight { get; init; } = 1.0;
    /// <summary>λ on the next-image prediction loss (Eq. 3); 0 turns NIP off.</summary>
    public double NipWeight { get; init; }
    /// <summary>λ on the consistency semantic regularisation (Eq. 5); 0 turns CSR off.</summary>
    public double CsrWeight { get; init; }
    /// <summary>Side of the images the encoder reads (the sniffer and the MMFS features), in pixels.</summary>
    public int EncoderResolution { get; init; }
    /// <summary>Side of the images the diffusion model rebuilds (NIP and CSR targets), in pixels.</summary>
    public int DecoderResolution { get; init; }
    /// <summary>
    /// The two resolutions above are the preset model's, and a model folder made at others (stage 0's
    /// <c>--resolution</c>) trains at its own (<see cref="ForModel"/>); off: the stage's resolutions are
    /// the recipe's whatever the model (the paper's stage 1 at 256 px, stage 2 at 448 px).
    /// </summary>
    public bool ModelResolution { get; init; }
    public int Steps { get; init; }
    public int WarmupSteps { get; init; }
    public double Lr { get; init; }
    public double WeightDecay { get; init; }
    public double[] Betas { get; init; } = { 0.9, 0.999 };
    public double Eps { get; init; } = 1e-8;
    public string Schedule { get; init; } = "cosine";
    public List<LrGroupRule> LrGroups { get; init; } = new();
    /// <summary>Sequences (stage 1) or samples (stages 2-3) per micro-batch.</summary>
    public int BatchSize { get; init; }
    public int GradAccum { get; init; } = 1;
    public double MaxGradNorm { get; init; } = 1.0;
    public int MaxLength { get; init; }
    public int MaxImagesPerSequence { get; init; } = 15;
    /// <summary>Probability that a stage-1 batch comes from interleaved documents (MMC4 : pairs = 2 : 1).</summary>
    public double InterleavedBatchFraction { get; init; } = 2.0 / 3.0;
    /// <summary>Probability of drawing the image block before its text (reference §5.1).</summary>
    public double ImageFirstProbability { get; init; } = 0.5;
    public bool RandomFlip { get; init; }
    /// <summary>
    /// Stage 2: whether the data's caption shards (<see cref="Data.Pipeline.DataPaths.CaptionQaShards"/>) join the
    /// instruction items as caption-as-QA items (the authors' mix has COCO-caption-as-QA); off, the SFT is the
    /// instruction file alone.
    /// </summary>
    public bool CaptionQa { get; init; } = true;
    public int Seed { get; init; } = 32;
    public int SaveEvery { get; init; }
    /// <summary>Complete checkpoints kept in the run folder, the newest; older ones are deleted. 0 keeps every one.</summary>
    public int KeepCheckpoints { get; init; } = 3;
    public int LogEvery { get; init; } = 10;
    /// <summary>
    /// Steps between evaluations on fixed batches at fixed noise (<c>eval.jsonl</c>); 0 = none. Not part
    /// of the authors' recipe: it makes the noisy diffusion terms' trend visible.
    /// </summary>
    public int EvalEvery { get; init; }
    /// <summary>Batches in the fixed evaluation set.</summary>
    public int EvalBatches { get; init; } = 4;
    /// <summary>Modules that recompute their activations in the backward pass (reference §3); none by default.</summary>
    public GradientCheckpointingConfig GradientCheckpointing { get; init; } = GradientCheckpointingConfig.None;

    /// <summary>
    /// The stage for <paramref name="model"/>: with <see cref="ModelResolution"/>, at the model's encoder and
    /// decoder resolutions; otherwise unchanged.
    /// </summary>
    public StageConfig ForModel(DeemConfig model) => ModelResolution
        ? this with { EncoderResolution = model.EncoderResolution, DecoderResolution = model.DecoderResolution }
        : this;

    static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build();

    /// <summary>Parses a stage YAML file; any bad key or value names the file, line and field.</summary>
    public static StageConfig Parse(string yaml, string source)
    {
        StageConfig c;
        try
        {
            c = Yaml.Deserialize<StageConfig>(yaml) ?? throw new DeemConfigException(source, "(root)", "empty stage file");
        }
        catch (YamlException e)
        {
            throw new DeemConfigException(source, $"line {e.Start.Line}", e.InnerException?.Message ?? e.Message, e);
        }
        c.Validate(source);
        return c;
    }

    public static StageConfig LoadFile(string path)
    {
        if (!File.Exists(path)) throw new DeemConfigException(path, "(file)", "stage config not found");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>The names of the embedded presets (e.g. "tiny", "paper-7b").</summary>
    public static IReadOnlyList<string> Presets => new[] { "tiny", "paper-7b" };

    /// <summary>Loads the embedded <c>configs/stages/{preset}/stage{n}.yaml</c> (or <c>stage1-baseline</c>).</summary>
    public static StageConfig Load(string preset, string stageName)
    {
        string resource = $"Deem.configs.stages.{preset}/{stageName}.yaml";
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new DeemConfigException($"configs/stages/{preset}/{stageName}.yaml", "(file)",
                $"no such embedded stage config (presets: {string.Join(", ", Presets)})");
        using var r = new StreamReader(s);
        return Parse(r.ReadToEnd(), $"configs/stages/{preset}/{stageName}.yaml");
    }

    public void Validate(string source)
    {
        void Require(bool ok, string field, string msg) { if (!ok) throw new DeemConfigException(source, field, msg); }
        Require(Stage is >= 0 and <= 3, "stage", $"must be 0..3, found {Stage}");
        Require(Steps > 0, "steps", $"must be > 0, found {Steps}");
        Require(WarmupSteps >= 0 && WarmupSteps <= Steps, "warmup_steps", $"must be in [0, steps={Steps}], found {WarmupSteps}");
        Require(Lr > 0, "lr", $"must be > 0, found {Lr}");
        Require(WeightDecay >= 0, "weight_decay", $"must be >= 0, found {WeightDecay}");
        Require(Betas.Length == 2 && Betas.All(b => b is >= 0 and < 1), "betas", "must be two numbers in [0, 1)");
        Require(Eps > 0, "eps", $"must be > 0, found {Eps}");
        Require(Schedule is "cosine" or "constant" or "linear", "schedule", $"must be cosine, linear or constant, found '{Schedule}'");
        Require(BatchSize > 0, "batch_size", $"must be > 0, found {BatchSize}");
        Require(GradAccum > 0, "grad_accum", $"must be > 0, found {GradAccum}");
        Require(MaxGradNorm >= 0, "max_grad_norm", $"must be >= 0, found {MaxGradNorm}");
        Require(NtpWeight >= 0 && NipWeight >= 0 && CsrWeight >= 0, "ntp_weight/nip_weight/csr_weight", "loss weights must be >= 0");
        Require(MaxLength > 0, "max_length", $"must be > 0, found {MaxLength}");
        Require(MaxImagesPerSequence > 0, "max_images_per_sequence", $"must be > 0, found {MaxImagesPerSequence}");
        Require(EncoderResolution > 0 && DecoderResolution > 0, "encoder_resolution/decoder_resolution", "must be > 0");
        for (int i = 0; i < LrGroups.Count; i++)
            Require(LrGroups[i].Match.Length > 0 && LrGroups[i].Lr > 0, $"lr_groups[{i}]", "needs a non-empty match and lr > 0");
        Require(InterleavedBatchFraction is >= 0 and <= 1, "interleaved_batch_fraction", "must be in [0, 1]");
        Require(ImageFirstProbability is >= 0 and <= 1, "image_first_probability", "must be in [0, 1]");
        Require(EvalEvery >= 0, "eval_every", $"must be >= 0, found {EvalEvery}");
        Require(KeepCheckpoints >= 0, "keep_checkpoints", $"must be >= 0 (0 keeps every checkpoint), found {KeepCheckpoints}");
        Require(EvalBatches > 0, "eval_batches", $"must be > 0, found {EvalBatches}");
        Require(GradientCheckpointing is not null, "gradient_checkpointing", "must be a map of llm, perceiver, image_decoder, unet, mmfs to true/false");
    }

    /// <summary>The LR and weight decay of a parameter: the first rule whose match is a substring of the name.</summary>
    public (double Lr, double WeightDecay) GroupFor(string parameterName)
    {
        foreach (var g in LrGroups)
            if (parameterName.Contains(g.Match, StringComparison.Ordinal))
                return (g.Lr, g.WeightDecay ?? WeightDecay);
        return (Lr, WeightDecay);
    }
}
