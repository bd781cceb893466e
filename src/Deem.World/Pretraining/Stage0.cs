using System.Globalization;
using System.Text.Json;
using Deem.Config;
using Deem.Diffusion;
using Deem.Diffusion.Schedulers;
using Deem.IO;
using Deem.Language;
using Deem.Model;
using Deem.Text;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.World.Pretraining;

/// <summary>What <see cref="Stage0.Run"/> trained and wrote.</summary>
/// <param name="Components">Per component (clip, llm, vae, unet): steps, first/last loss, seconds.</param>
/// <param name="Config">The tiny DEEM config that loads these components (<c>deem_config.json</c> in the output).</param>
/// <param name="VaeScalingFactor">1 / std of the trained VAE's latents, written to <c>sd/vae/config.json</c>.</param>
/// <param name="OutDir">The stage-0 output folder: the components, the assembled DEEM model folder, the metrics log.</param>
/// <param name="Kept">The components a resumed run loaded from <paramref name="OutDir"/> instead of training (their results are the logged ones).</param>
/// <param name="UNetCondition">Whether the UNet reads its caption (<see cref="UNetTrainer.ConditionUse"/>, on the first pairs); null with fewer than two pairs.</param>
/// <param name="LatentSignalShare">The share of the VAE latents' variance that is the images' (<see cref="VaePosteriors.SignalShare"/>, on the same pairs); null with fewer than two pairs.</param>
public sealed record Stage0Summary(IReadOnlyList<ComponentResult> Components, DeemConfig Config, double VaeScalingFactor, string OutDir,
    IReadOnlyList<string>? Kept = null, UNetConditionUse? UNetCondition = null, double? LatentSignalShare = null);

/// <summary>
/// Stage 0: pretrains tiny stand-ins for the checkpoints DEEM starts from (paper §3.1: CLIP-ConvNeXt,
/// Vicuna, Stable Diffusion 2.1; reference §1.2, §1.6, §1.9) on the procedural world, in sequence
/// CLIP → LLM → VAE → UNet (the UNet needs the trained text tower and VAE), and writes each in its real
/// layout (<see cref="ComponentWriters"/>), so stages 1–3 load them with <see cref="ComponentLoader"/>
/// exactly as the published weights. Sizes come from the tiny DEEM preset built for the world tokenizer.
/// </summary>
public static class Stage0
{
    public const string ConfigFile = "deem_config.json";
    public const string SummaryFile = "stage0_summary.json";
    public const string MetricsFile = "stage0_metrics.jsonl";
    /// <summary>Caption pairs on which the trained UNet's use of its condition is measured.</summary>
    public const int ConditionPairs = 256;

    /// <summary>The tiny DEEM for the world tokenizer (its base vocabulary, bos/eos/pad and the 6 DEEM tokens at the end).</summary>
    public static DeemConfig TinyConfig(WordPieceTextTokenizer tokenizer) => DeemConfig.TinyFor(tokenizer.Specials);

    /// <summary>
    /// The CLIP text tower for <paramref name="deem"/>: token-state width = UNet <c>cross_attention_dim</c>,
    /// context = decoder Q-Former queries (so its empty-prompt states are the null embedding's shape),
    /// the world tokenizer's vocabulary and ids.
    /// </summary>
    public static ClipTextConfig ClipTextFor(DeemConfig deem, WordPieceTextTokenizer tokenizer) => ClipTextConfig.Tiny with
    {
        Width = deem.UNet.CrossAttentionDim,
        ContextLength = (int)deem.ImageDecoder.PerceiverConfig.NumQueries,
        VocabSize = tokenizer.VocabSize,
        BosId = WordPieceTextTokenizer.BosId,
        EosId = WordPieceTextTokenizer.EosId,
        PadId = WordPieceTextTokenizer.PadId,
    };

    /// <summary>The plain LLaMA stage 0 trains: DEEM's LLM shape, base vocabulary, no MMFS layers.</summary>
    public static LlamaConfig LlmFor(DeemConfig deem) =>
        deem.Llm with { VocabSize = deem.BaseVocabSize, CrossAttentionFrequency = 0 };

    /// <summary>
    /// Trains the four components on <paramref name="worldDir"/>, writes them in their real layouts under
    /// <paramref name="outDir"/> (plus <c>deem_config.json</c>, <c>stage0_summary.json</c> and each step in
    /// <c>stage0_metrics.jsonl</c>), then assembles them into a DEEM model folder in the same place (the
    /// <c>--init</c> of stage 1). <paramref name="progress"/> sees every step (a progress bar). With
    /// <see cref="Stage0Options.Resume"/> the components already complete in <paramref name="outDir"/> are
    /// loaded, not trained (<see cref="Stage0Resume"/>).
    /// </summary>
    public static Stage0Summary Run(string worldDir, string outDir, Stage0Options options, Action<Stage0Step>? progress = null)
    {
        options.Validate();
        Directory.CreateDirectory(outDir);
        var resume = options.Resume ? Stage0Resume.Read(outDir, options) : Stage0Resume.Fresh;
        Stage0Resume.WriteOptions(outDir, options);
        var metricsPath = Path.Combine(outDir, MetricsFile);
        // A resumed log starts with the kept components' lines; a torn last line or a half-trained component's go.
        if (options.Resume) AtomicFile.WriteAllText(metricsPath, string.Concat(resume.KeptLines.Select(l => l + "\n")));
        Stage0Summary summary;
        using (var metrics = new StreamWriter(metricsPath, append: options.Resume))
        {
            summary = TrainComponents(worldDir, outDir, options, resume, new Stage0Callbacks(progress, s => metrics.WriteLine(MetricsLine(s))));
            metrics.Flush();
        }
        Stage0Model.Assemble(summary, WorldTokenizer.Default, options.Seed);
        return summary;
    }

    /// <summary>One line of <c>stage0_metrics.jsonl</c>.</summary>
    public static string MetricsLine(Stage0Step s) => string.Create(CultureInfo.InvariantCulture,
        $"{{\"component\":\"{s.Component}\",\"step\":{s.Step},\"loss\":{s.Loss:R},\"lr\":{s.LearningRate:R},\"grad_norm\":{s.GradNorm:R},\"seconds\":{s.Seconds:R}}}");

    /// <summary>
    /// Trains the four components on <paramref name="worldDir"/> and writes them under
    /// <paramref name="outDir"/> (plus <c>deem_config.json</c> and <c>stage0_summary.json</c>).
    /// </summary>
    static Stage0Summary TrainComponents(string worldDir, string outDir, Stage0Options options, Stage0Resume resume, Stage0Callbacks callbacks)
    {
        var tokenizer = WorldTokenizer.Create();
        // The tiny DEEM reads and denoises images at the side its components were trained at.
        var tiny = TinyConfig(tokenizer);
        var deem = tiny with
        {
            EncoderResolution = options.Resolution, DecoderResolution = options.Resolution, Vae = tiny.Vae with { SampleSize = options.Resolution },
        };
        deem.Validate("stage 0");
        var folders = ComponentFolders.Under(outDir);
        using var data = Stage0Data.Load(worldDir, tokenizer, options.Resolution);
        var results = new List<ComponentResult>();
        manual_seed(options.Seed);
        var generator = new Generator((ulong)options.Seed);

        // Each component is built from the same seeds whether it is then trained or loaded, so the ones a
        // resumed run trains start where an uninterrupted run's start.
        using var clip = new ClipModel(deem.Vision, ClipTextFor(deem, tokenizer), generator);
        if (resume.Keeps(ClipTrainer.Name)) Keep(clip, ClipTrainer.Name);
        else
        {
            results.Add(ClipTrainer.Train(clip, data, options, callbacks));
            ComponentWriters.WriteClip(outDir, clip, options.Resolution);
        }

        var llmConfig = LlmFor(deem);
        using (var llm = new LlamaForCausalLM(llmConfig, generator: generator))
        {
            if (resume.Keeps(LlmTrainer.Name)) Keep(llm, LlmTrainer.Name);
            else
            {
                results.Add(LlmTrainer.Train(llm, data, options, callbacks));
                ComponentWriters.WriteLlm(outDir, llm, llmConfig, tokenizer);
            }
        }

        using var vae = new AutoencoderKL(deem.Vae);
        double scaling;
        VaePosteriors? posteriors = null;
        if (resume.Keeps(VaeTrainer.Name))
        {
            Keep(vae, VaeTrainer.Name);
            scaling = ConfigJson.Load<VaeConfig>(Path.Combine(folders.SdFolder, "vae", "config.json")).ScalingFactor;
            vae.eval();
        }
        else
        {
            results.Add(VaeTrainer.Train(vae, data, options, callbacks));
            vae.eval();
            // One pass of the frozen encoder over every image: the scaling factor, and the UNet's latents below.
            posteriors = VaeTrainer.Posteriors(vae, data.VaeImages);                             // [M, 4, h, w]
            scaling = VaeTrainer.ScalingFactor(posteriors, options.Seed);
        }
        using var trainedVae = WithScaling(vae, scaling);
        if (!resume.Keeps(VaeTrainer.Name)) ComponentWriters.WriteVae(outDir, trainedVae);

        var scheduler = new DdpmScheduler(deem.Scheduler);
        UNetConditionUse? critic = null;
        double? signalShare = null;
        var unetConfig = deem.UNet with { SampleSize = options.Resolution / deem.Vae.DownsampleFactor };
        if (!resume.Keeps(UNetTrainer.Name)) posteriors ??= VaeTrainer.Posteriors(trainedVae, data.VaeImages);   // [M, 4, h, w]
        using (posteriors)
        using (var unet = new UNet2DConditionModel(unetConfig))
        {
            if (resume.Keeps(UNetTrainer.Name)) Keep(unet, UNetTrainer.Name);
            else
            {
                using var pairs = posteriors!.Head(data.PairImages.shape[0]);                    // [N, 4, h, w]: the caption pairs come first
                results.Add(UNetTrainer.Train(unet, pairs, scaling, clip.Text, scheduler, data, options, callbacks));
                ComponentWriters.WriteDiffusion(outDir, unet, deem.Scheduler, clip.Text, tokenizer);
            }
            // Does the critic read its condition? (CSR's gradient into the encoder flows only through that.)
            long measured = Math.Min(ConditionPairs, data.PairImages.shape[0]);
            if (measured >= 2)
            {
                // The pairs come first: a run that trained the UNet holds their posteriors already; a resumed one encodes them.
                using var sample = posteriors?.Head(measured) ?? VaeTrainer.Posteriors(trainedVae, data.PairImages.narrow(0, 0, measured));   // [n, 4, h, w]
                critic = UNetTrainer.ConditionUse(unet, sample, scaling, clip.Text, scheduler, data.CaptionIds, options.Seed);
                signalShare = sample.SignalShare();
            }
        }

        var resolved = ComponentLoader.ResolveConfig(deem, folders);
        resolved.Save(Path.Combine(outDir, ConfigFile));
        var summary = new Stage0Summary(results, resolved, scaling, outDir, resume.Kept, critic, signalShare);
        WriteSummary(summary);
        return summary;

        // A component the folder already holds: its weights (strict) and its logged training.
        void Keep(nn.Module module, string component)
        {
            StateDicts.LoadStrict(module, Stage0Resume.WeightsOf(outDir, component));
            results.Add(resume.Result(component));
        }
    }

    /// <summary>A copy of <paramref name="vae"/> whose config carries the measured scaling factor.</summary>
    static AutoencoderKL WithScaling(AutoencoderKL vae, double scaling)
    {
        var copy = new AutoencoderKL(vae.Config with { ScalingFactor = scaling });
        using var noGrad = no_grad();
        var src = vae.state_dict();
        foreach (var (key, dst) in copy.state_dict()) dst.copy_(src[key]);
        copy.eval();
        return copy;
    }

    static void WriteSummary(Stage0Summary s)
    {
        var rows = s.Components.Select(c => new Dictionary<string, object>
        {
            ["component"] = c.Component, ["steps"] = c.Steps, ["first_loss"] = c.FirstLoss, ["last_loss"] = c.LastLoss,
            ["first_mean_10"] = c.HeadMean(10), ["last_mean_10"] = c.TailMean(10), ["seconds"] = Math.Round(c.Seconds, 2),
        }).ToList();
        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["components"] = rows, ["vae_scaling_factor"] = s.VaeScalingFactor,
            ["unet_condition"] = s.UNetCondition is { } c
                ? new Dictionary<string, object> { ["pairs"] = c.Pairs, ["own_caption"] = c.Own, ["another_caption"] = c.Shuffled, ["empty_prompt"] = c.Empty, ["gap"] = c.Gap, ["white_noise_floor"] = c.WhiteNoise }
                : null!,
            ["vae_latent_signal_share"] = s.LatentSignalShare is { } share ? share : null!,
        }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        AtomicFile.WriteAllText(Path.Combine(s.OutDir, SummaryFile), json);
    }
}
