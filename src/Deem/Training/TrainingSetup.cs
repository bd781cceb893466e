using Deem.Config;
using Deem.Data.Formats;
using Deem.Data.Pipeline;
using Deem.IO;
using Deem.Model;
using Deem.Text;
using TorchSharp;

namespace Deem.Training;

/// <summary>
/// What one stage starts from (paper §2.3; reference §3): the stage config (the DEEM* baseline for
/// <c>--no-csr</c>, scaled to <c>--steps</c>), the model (fresh from a preset, or a previous stage's folder
/// loaded non-strictly as the authors' <c>--load_from_args</c>, with stage 3's mask extractor added and
/// its diffusion model dropped), and the stage's data stream.
/// </summary>
public static class TrainingSetup
{
    /// <summary>
    /// The embedded stage config of a preset: <c>stage{n}</c>; without CSR, <c>stage1-baseline</c> for stage 1
    /// and <c>stage2</c> with λ_CSR = 0 for stage 2 (the baseline's SFT, as the CSR experiment trains it).
    /// </summary>
    public static StageConfig StageConfigFor(string preset, int stage, bool noCsr = false)
    {
        if (stage is < 1 or > 3) throw new DeemConfigException("--stage", "stage", $"must be 1, 2 or 3, found {stage}");
        if (noCsr && stage == 3) throw new DeemConfigException("--no-csr", "stage", "stage 3 has no diffusion model, so no CSR to turn off");
        if (noCsr && stage == 2) return StageConfig.Load(preset, "stage2") with { CsrWeight = 0.0 };
        return StageConfig.Load(preset, noCsr ? "stage1-baseline" : $"stage{stage}");
    }

    /// <summary>The stage shortened (or lengthened) to <paramref name="steps"/>, its warm-up scaled in proportion.</summary>
    public static StageConfig WithSteps(StageConfig stage, int steps)
    {
        if (steps <= 0) throw new DeemConfigException("--steps", "steps", $"must be > 0, found {steps}");
        int warmup = (int)Math.Round((double)stage.WarmupSteps * steps / stage.Steps, MidpointRounding.AwayFromZero);
        return stage with { Steps = steps, WarmupSteps = Math.Min(warmup, steps) };
    }

    /// <summary>The model config a stage trains: stage 3 adds the mask-aware extractor and has no diffusion model.</summary>
    public static DeemConfig ModelConfigFor(DeemConfig config, StageConfig stage) =>
        stage.MaskAlign ? config with { MaskAlign = true, BuildDiffusion = false }
        : config with { BuildDiffusion = config.BuildDiffusion || stage.NipWeight > 0 || stage.CsrWeight > 0 };

    /// <summary>
    /// A fresh model of <paramref name="preset"/> (weights from <paramref name="seed"/>), or one initialised
    /// from the model folder <paramref name="init"/> (read by <see cref="DeemCheckpoint.Open"/>): the folder's
    /// config adapted to the stage, weights loaded non-strictly: the report lists missing (new in this stage,
    /// e.g. the mask extractor) and unexpected (dropped, e.g. the diffusion model in stage 3) keys; a key whose
    /// shape differs is an error naming it (every stage's model keeps the same shapes). <paramref name="tokenizer"/>
    /// is the fresh model's tokenizer (it sizes the tiny presets), and the one an init folder without its own
    /// gets; it may be null only when the init folder holds one. <paramref name="arch"/> builds the folder's
    /// model as another architecture (<see cref="WithArch"/>); null keeps the folder's.
    /// </summary>
    /// <param name="preset">The preset of a fresh model.</param>
    /// <param name="stage">The stage the model trains in (<see cref="ModelConfigFor"/>).</param>
    /// <param name="init">A model folder to start from; null: a fresh model.</param>
    /// <param name="seed">Seed of the fresh weights (torch's global generator and the model's).</param>
    /// <param name="tokenizer">The fresh model's tokenizer, and an init folder's when it holds none.</param>
    /// <param name="arch">The architecture to build an init folder as; null: the folder's.</param>
    public static (DeemModel Model, ITextTokenizer Tokenizer, LoadReport? Report) BuildModel(string preset, StageConfig stage, string? init, int seed,
        ITextTokenizer? tokenizer, string? arch = null)
    {
        CheckArch(arch, init);
        // Some layers (e.g. nn.Linear's default init) draw from torch's global generator, not the one passed in.
        torch.manual_seed(seed);
        // Not disposed: modules such as DropPath keep the generator they were built with (the trainer replaces it).
        var g = new torch.Generator((ulong)seed);
        if (init is null)
        {
            if (tokenizer is null) throw new DeemConfigException("--preset", "tokenizer", "a fresh model needs the tokenizer it is sized to");
            return (new DeemModel(ModelConfigFor(DeemConfig.Preset(preset, tokenizer.Specials), stage), g), tokenizer, null);
        }
        if (!DeemCheckpoint.Exists(init))
            throw new DeemFormatException(init, $"--init needs a DEEM model folder ({DeemCheckpoint.ConfigFile} + {DeemCheckpoint.WeightsFile})");
        if (!TokenizerFiles.Exists(init) && tokenizer is null)
            throw new DeemFormatException(init, "the model folder has no tokenizer and none was given");
        var loaded = DeemCheckpoint.Open(init, new ModelFolderLoad
        {
            Strict = false, Tokenizer = tokenizer, Generator = g,
            Config = c => ModelConfigFor(arch is null ? c : WithArch(c, arch), stage),
        });
        return (loaded.Model, loaded.Tokenizer, loaded.Report);
    }

    /// <summary>
    /// Refuses an architecture other than "deem" or "llava", and one given without an <paramref name="init"/> folder
    /// (a fresh model takes its architecture from the preset). Reads no file, so a command can call it before any work.
    /// </summary>
    public static void CheckArch(string? arch, string? init)
    {
        if (arch is null) return;
        if (arch is not ("deem" or "llava")) throw new DeemConfigException("--arch", "arch", $"must be deem or llava, found '{arch}'");
        if (init is null)
            throw new DeemConfigException("--arch", "arch", "builds the --init folder's model as that architecture; a fresh model takes its architecture from the preset (tiny-llava, paper-7b-llava)");
    }

    /// <summary>
    /// <paramref name="config"/> as the architecture <paramref name="arch"/> ("deem" or "llava", paper Table 5),
    /// named as the presets are ("tiny" ↔ "tiny-llava"). Built from a folder of the other architecture, the
    /// parts both share (encoder, perceiver, LLM, UNet, VAE, MMFSNet) load and the others start fresh.
    /// </summary>
    public static DeemConfig WithArch(DeemConfig config, string arch) => arch switch
    {
        _ when arch == config.Arch => config,
        "llava" => config with { Arch = arch, Name = config.Name + "-llava" },
        "deem" => config with { Arch = arch, Name = config.Name.EndsWith("-llava", StringComparison.Ordinal) ? config.Name[..^6] : config.Name },
        _ => throw new DeemConfigException("--arch", "arch", $"must be deem or llava, found '{arch}'"),
    };

    /// <summary>The stage's batch stream over <paramref name="paths"/>: stage 1 packed MMC4 + pairs, stage 2 SFT, stage 3 mask SFT.</summary>
    public static IBatchStream OpenStream(StageConfig stage, DataPaths paths, ITextTokenizer tokenizer, int imageTokens, bool strict,
        DataPosition? resume = null)
    {
        var skips = new SkipCounter(strict);
        return stage.Stage switch
        {
            1 => new Stage1Stream(paths, stage, tokenizer, imageTokens, skips, resume),
            2 => new SftStream(paths, stage, tokenizer, imageTokens, skips, resume),
            3 => new MaskSftStream(paths, stage, tokenizer, imageTokens, skips, resume),
            _ => throw new DeemConfigException(stage.Name, "stage", $"no data stream for stage {stage.Stage} (stages 1-3)"),
        };
    }

    /// <summary>Added to the stage seed for the stream the fixed evaluation batches are drawn from.</summary>
    public const int EvalSeedOffset = 7919;

    /// <summary>
    /// The fixed evaluation batches of a stage (<see cref="StageConfig.EvalBatches"/> of them): the stage's
    /// stream over <paramref name="paths"/> (a held-out world, or the training world) under another
    /// shuffle seed, so they are not the run's first training batches. Their "yes"/"no" answers are scored when the
    /// tokenizer writes each as one token.
    /// </summary>
    public static EvalSet OpenEvalSet(StageConfig stage, DataPaths paths, ITextTokenizer tokenizer, int imageTokens, string source)
    {
        using var stream = OpenStream(stage with { Seed = stage.Seed + EvalSeedOffset }, paths, tokenizer, imageTokens, strict: false);
        return EvalSet.Draw(stream, stage.EvalBatches, source, YesNoTokens.Of(tokenizer));
    }
}
