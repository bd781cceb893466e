using System.Globalization;
using Deem.World.Pretraining;
using Deem.World.Benchmarks;

namespace Deem.World.Experiments;

/// <summary>
/// Options of <see cref="Demo"/>: the CSR experiment at a reduced size on a fresh built-in world.
/// <see cref="FullRun"/> holds the sizes of the full ablation the demo stands in for.
/// </summary>
public sealed record DemoOptions
{
    /// <summary>The demo's folder: world, stage 0, experiment, model folder, report, pictures.</summary>
    public string OutDir { get; init; } = "deem-demo";
    /// <summary>Seeds of every arm.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0, 1, 2];
    /// <summary>"deem" (baseline vs DEEM) and/or "llava" (LLaVA-style without and with CSR).</summary>
    public IReadOnlyList<string> Arches { get; init; } = ["deem"];
    /// <summary>Steps of every stage-0 component (null: <see cref="Stage0Recipe"/>'s).</summary>
    public int? Stage0Steps { get; init; }
    /// <summary>Stage 0's recipe (steps per component, batch size); <see cref="Stage0Steps"/> overrides its steps.</summary>
    public Stage0Options Stage0Recipe { get; init; } = new();
    public int Stage1Steps { get; init; } = 120;
    public int Stage2Steps { get; init; } = 300;
    /// <summary>Multiplies the world's item counts (the in-distribution test split stays unscaled).</summary>
    public double WorldScale { get; init; } = 2.0;
    /// <summary>Image–caption pairs (the stage-0 CLIP's data), overriding the scaled count; null = scaled.</summary>
    public int? CaptionPairs { get; init; }
    /// <summary>Instruction (SFT) images, overriding the scaled count; null = scaled.</summary>
    public int? VqaImages { get; init; }
    /// <summary>Held-out images per POPE split.</summary>
    public int PopeImages { get; init; } = 30;
    /// <summary>MMVP pairs, mined as CLIP-blind by the stage-0 CLIP.</summary>
    public int MmvpPairs { get; init; } = 30;
    /// <summary>Questions per instruction image of the world (the SFT stage is where yes/no answering is learned).</summary>
    public int QuestionsPerImage { get; init; } = 6;
    /// <summary>Side in pixels of the world's images and of the image encoder (stage 0's resolution; later stages keep it).</summary>
    public int ImageSize { get; init; } = 64;

    /// <summary>
    /// The full ablation, the recipe at which the trained models see best (docs/experiments.md §2.16–2.19, §2.22): three
    /// seeds per arm, 96-px images (a 64-px encoder caps what the LLM can read, §2.10), a CLIP on 65,536 caption pairs
    /// (6,000 steps at batch 128), 300 + 48,000 steps on 16,384 instruction images with the world's 3 open questions
    /// per image (at 48,000 both arms meet every target in every seed, §2.23; at 24,000 the DEEM arm did not, §2.21).
    /// Its VAE trains 1500 steps: at 100 its latents were 90 % posterior noise and the UNet trained on them — CSR's
    /// critic — read no condition (§2.12–2.13). It scores POPE on 500 held-out images and MMVP on 150 pairs, the
    /// benchmarks' own sizes (the runs of §2.16–2.22 were scored on 30 and 30, whose sampling error hid what the models
    /// reach: §2.23).
    /// </summary>
    public static DemoOptions FullRun { get; } = new()
    {
        Stage1Steps = 300, Stage2Steps = 48_000, WorldScale = 8, CaptionPairs = 65_536, VqaImages = 16_384, QuestionsPerImage = 3, ImageSize = 96,
        PopeImages = new WorldPopeOptions().Images, MmvpPairs = new WorldMmvpOptions().Pairs,          // the benchmarks' own sizes
        Stage0Recipe = new Stage0Options { ClipSteps = 6_000, LlmSteps = 400, VaeSteps = 1500, UNetSteps = 500, BatchSize = 128 },
    };

    /// <summary>Throws a <see cref="DeemConfigException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        static void Positive(string option, double v)
        {
            if (!(v > 0) || double.IsInfinity(v)) throw new DeemConfigException(option, option.TrimStart('-'), $"must be a positive number, found {v.ToString(CultureInfo.InvariantCulture)}");
        }
        if (string.IsNullOrWhiteSpace(OutDir)) throw new DeemConfigException("--out", "out", "give an output folder");
        if (Seeds.Count == 0) throw new DeemConfigException("--seeds", "seeds", "give at least one seed");
        if (Seeds.Distinct().Count() != Seeds.Count) throw new DeemConfigException("--seeds", "seeds", $"a seed appears twice: {string.Join(",", Seeds)}");
        if (Arches.Count == 0) throw new DeemConfigException("--arch", "arch", "give deem, llava or both");
        foreach (var a in Arches) _ = CsrExperiment.ArmsOf(a).ToList();
        if (Stage0Steps is int s0) Positive("--stage0-steps", s0);
        Positive("--stage1-steps", Stage1Steps);
        Positive("--stage2-steps", Stage2Steps);
        Positive("--world-scale", WorldScale);
        if (CaptionPairs is int pairs) Positive("--caption-pairs", pairs);
        if (VqaImages is int vqa) Positive("--vqa-images", vqa);
        Positive("--pope-images", PopeImages);
        Positive("--mmvp-pairs", MmvpPairs);
        Positive("questions per image", QuestionsPerImage);
        if (ImageSize < 32 || ImageSize % 32 != 0)
            throw new DeemConfigException("--image-size", "image-size", $"must be a positive multiple of 32 (the encoder's stride), found {ImageSize}");
    }

    /// <summary>
    /// The world the demo makes: the default world with every item count times <see cref="WorldScale"/>, then
    /// <see cref="CaptionPairs"/> and <see cref="VqaImages"/> where given.
    /// </summary>
    public WorldOptions World()
    {
        var scaled = new WorldCounts().Scaled(WorldScale);
        return new WorldOptions
        {
            QuestionsPerImage = QuestionsPerImage, ImageSize = ImageSize,
            Counts = scaled with { CaptionPairs = CaptionPairs ?? scaled.CaptionPairs, VqaImages = VqaImages ?? scaled.VqaImages },
            // Unscaled: the in-distribution split adds RobustVQA questions to every run's evaluation.
            TestImagesInDistribution = new WorldOptions().TestImagesInDistribution,
        };
    }

    /// <summary>The stage-0 options: <see cref="Stage0Recipe"/> at <see cref="ImageSize"/>, with <see cref="Stage0Steps"/> steps for every component when given.</summary>
    public Stage0Options Stage0() =>
        (Stage0Steps is int n ? Stage0Recipe with { ClipSteps = n, LlmSteps = n, VaeSteps = n, UNetSteps = n } : Stage0Recipe) with { Resolution = ImageSize };

    /// <summary>The experiment's options, with the folders under <see cref="OutDir"/>.</summary>
    public CsrExperimentOptions Experiment(string world, string stage0, string outDir) => new()
    {
        World = world, Stage0 = stage0, OutDir = outDir, Seeds = Seeds, Arches = Arches,
        Stage1Steps = Stage1Steps, Stage2Steps = Stage2Steps, PopeImages = PopeImages, MmvpPairs = MmvpPairs,
    };

    /// <summary>The <c>deem</c> commands that run the same ablation step by step (W, S0, X: the folders).</summary>
    public IReadOnlyList<string> Commands()
    {
        var inv = CultureInfo.InvariantCulture;
        var s0 = Stage0();
        var defaults = new Stage0Options();
        string steps = (s0.ClipSteps, s0.LlmSteps, s0.VaeSteps, s0.UNetSteps) == (defaults.ClipSteps, defaults.LlmSteps, defaults.VaeSteps, defaults.UNetSteps)
            ? "" : string.Create(inv, $" --component-steps {s0.ClipSteps},{s0.LlmSteps},{s0.VaeSteps},{s0.UNetSteps}");
        string batch = s0.BatchSize == defaults.BatchSize ? "" : string.Create(inv, $" --batch-size {s0.BatchSize}");
        string resolution = s0.Resolution == defaults.Resolution ? "" : string.Create(inv, $" --resolution {s0.Resolution}");
        string imageSize = ImageSize == new WorldOptions().ImageSize ? "" : string.Create(inv, $" --image-size {ImageSize}");
        return
        [
            string.Create(inv, $"deem world make --out W --scale {WorldScale}") +
            (CaptionPairs is int pairs ? string.Create(inv, $" --caption-pairs {pairs}") : "") +
            (VqaImages is int vqa ? string.Create(inv, $" --vqa-images {vqa}") : "") +
            string.Create(inv, $" --questions-per-image {QuestionsPerImage}") + imageSize,
            "deem train --stage 0 --world W --out S0" + steps + batch + resolution,
            string.Create(inv, $"deem experiment csr --world W --stage0 S0 --out X --arch {string.Join(",", Arches)} --seeds {string.Join(",", Seeds)} ") +
            string.Create(inv, $"--stage1-steps {Stage1Steps} --stage2-steps {Stage2Steps} --pope-images {PopeImages} --mmvp-pairs {MmvpPairs}"),
        ];
    }

    /// <summary>(setting, this run, the full run) for every size in which the two can differ.</summary>
    public IReadOnlyList<(string Setting, string Here, string Full)> Sizes()
    {
        var f = FullRun;
        var inv = CultureInfo.InvariantCulture;
        static string SeedList(IReadOnlyList<int> s) => $"{s.Count} ({string.Join(", ", s)})";
        static string Stage0Steps(Stage0Options s) => $"CLIP {s.ClipSteps}, LLaMA {s.LlmSteps}, VAE {s.VaeSteps}, UNet {s.UNetSteps}";
        return
        [
            ("seeds per arm", SeedList(Seeds), SeedList(f.Seeds)),
            ("stage-0 steps", Stage0Steps(Stage0()), Stage0Steps(f.Stage0())),
            ("stage-0 batch (CLIP pairs, UNet latents)", $"{Stage0().BatchSize}", $"{f.Stage0().BatchSize}"),
            ("stage-1 steps", $"{Stage1Steps}", $"{f.Stage1Steps}"),
            ("stage-2 (SFT) steps", $"{Stage2Steps}", $"{f.Stage2Steps}"),
            ("image side (world and encoder)", $"{ImageSize} px", $"{f.ImageSize} px"),
            ("world scale", WorldScale.ToString(inv), f.WorldScale.ToString(inv)),
            ("caption pairs (stage-0 data)", $"{World().Counts.CaptionPairs}", $"{f.World().Counts.CaptionPairs}"),
            ("instruction (SFT) images", $"{World().Counts.VqaImages}", $"{f.World().Counts.VqaImages}"),
            ("open questions per instruction image", $"{QuestionsPerImage}", $"{f.QuestionsPerImage}"),
            ("POPE images per split", $"{PopeImages}", $"{f.PopeImages}"),
            ("MMVP pairs", $"{MmvpPairs}", $"{f.MmvpPairs}"),
        ];
    }
}
