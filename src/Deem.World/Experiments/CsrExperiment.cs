using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Deem.Benchmarks;
using Deem.World.Benchmarks;
using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Inference;
using Deem.IO;
using Deem.Model;
using Deem.Text;
using Deem.Training;

namespace Deem.World.Experiments;

/// <summary>One arm × seed run of the experiment.</summary>
/// <param name="Arch">deem or llava.</param>
/// <param name="Arm">baseline, DEEM, LLaVA or LLaVA+CSR.</param>
/// <param name="Csr">Whether the arm trains with CSR.</param>
/// <param name="Seed">The run's seed.</param>
public sealed record PlannedRun(string Arch, string Arm, bool Csr, int Seed);

/// <summary>Options of <see cref="CsrExperiment"/>.</summary>
public sealed record CsrExperimentOptions
{
    /// <summary>The world folder (<c>deem world make</c>).</summary>
    public required string World { get; init; }
    /// <summary>The stage-0 folder (<c>deem train --stage 0</c>): components + the assembled DEEM model folder.</summary>
    public required string Stage0 { get; init; }
    public required string OutDir { get; init; }
    public IReadOnlyList<int> Seeds { get; init; } = [0, 1, 2];
    /// <summary>"deem" (baseline vs DEEM) and/or "llava" (paper Table 5: LLaVA-style with and without CSR).</summary>
    public IReadOnlyList<string> Arches { get; init; } = ["deem", "llava"];
    /// <summary>Seeds for the LLaVA-style arms (null: the same as <see cref="Seeds"/>).</summary>
    public IReadOnlyList<int>? LlavaSeeds { get; init; }
    public int Stage1Steps { get; init; } = 150;
    public int Stage2Steps { get; init; } = 150;
    /// <summary>λ_CSR of the CSR arms in both stages; null keeps the tiny recipes' (5, the paper's). A sweep needs one --out per value (finished runs are reused).</summary>
    public double? CsrWeight { get; init; }
    /// <summary>Arms to run (e.g. ["baseline"] for a quick recipe check); null runs every arm of <see cref="Arches"/>.</summary>
    public IReadOnlyList<string>? OnlyArms { get; init; }
    /// <summary>How many runs train at once on the machine, this one included (the <c>--jobs</c> of the process that started it); kept in each run.json.</summary>
    public int ConcurrentRuns { get; init; } = 1;
    /// <summary>Held-out images of the world POPE, 6 questions each per split; 500 as POPE's own files (at 30, one run's accuracy
    /// has a sampling interval of about ± 5.5 pp; docs/experiments.md §2.23).</summary>
    public int PopeImages { get; init; } = new WorldPopeOptions().Images;
    /// <summary>Pairs of the world MMVP, mined as CLIP-blind by the stage-0 CLIP; 150 as MMVP's own.</summary>
    public int MmvpPairs { get; init; } = new WorldMmvpOptions().Pairs;
    /// <summary>Greedy decoding length of the answers (yes/no and option words are one or two tokens).</summary>
    public int MaxNewTokens { get; init; } = 3;
    public int EvalBatchSize { get; init; } = 16;
    /// <summary>Steps between the checkpoints of each stage (and its last step): a rerun of a stopped experiment resumes from the last one.</summary>
    public int SaveEvery { get; init; } = 1000;
}

/// <summary>
/// The paper's CSR ablation (Tables 1, 3 and 5) reproduced on the built-in world. From the same
/// stage-0 components and data, each arm trains stage 1 (alignment) and stage 2 (image-text SFT) and
/// is evaluated on the world's RobustVQA (A/R/V), POPE (random/popular/adversarial) and MMVP:
/// <list type="bullet">
/// <item><b>baseline</b> (DEEM*): no CSR; ConvNeXt frozen, UNet trainable in stage 1;</item>
/// <item><b>DEEM</b>: CSR (λ = 5) in both stages; ConvNeXt trainable, UNet frozen in stage 1;</item>
/// <item><b>LLaVA</b> / <b>LLaVA+CSR</b>: the architecture-agnostic claim (Table 5), an MLP projector
/// into a plain LLaMA, without and with CSR.</item>
/// </list>
/// Every run is resumable: a finished run's <c>run.json</c> is reused, and a stopped one (a killed process, a
/// restarted machine) continues each stage from its last checkpoint. The report is written as measured, beside the
/// paper's deltas.
/// </summary>
public static class CsrExperiment
{
    public const string RunFile = "run.json";

    /// <summary>The arms of an architecture: (name, csr).</summary>
    public static IEnumerable<(string Name, bool Csr)> ArmsOf(string arch) => arch switch
    {
        "deem" => [("baseline", false), ("DEEM", true)],
        "llava" => [("LLaVA", false), ("LLaVA+CSR", true)],
        _ => throw new DeemConfigException("--arch", "arch", $"must be deem or llava, found '{arch}'"),
    };

    /// <summary>Every arm × seed run of the experiment, in the order <see cref="Run"/> trains them (arm by arm, seeds in order).</summary>
    public static IEnumerable<PlannedRun> Plan(CsrExperimentOptions o)
    {
        foreach (var arch in o.Arches)
        {
            var seeds = arch == "llava" ? o.LlavaSeeds ?? o.Seeds : o.Seeds;
            foreach (var (name, csr) in ArmsOf(arch))
                if (o.OnlyArms is not { } only || only.Contains(name))
                    foreach (var seed in seeds) yield return new PlannedRun(arch, name, csr, seed);
        }
    }

    /// <summary>The folder of one arm × seed run under the experiment folder.</summary>
    public static string RunDir(string experimentDir, string arm, int seed) =>
        Path.Combine(experimentDir, "runs", arm.Replace('+', '_'), $"seed{seed}");

    /// <summary>Whether that run finished (its <see cref="RunFile"/> exists, so <see cref="Run"/> reuses it).</summary>
    public static bool Finished(string experimentDir, PlannedRun run) => File.Exists(Path.Combine(RunDir(experimentDir, run.Arm, run.Seed), RunFile));

    /// <summary>Builds the three world benchmarks once, under <c>{OutDir}/benchmarks</c>.</summary>
    public static BenchmarkPaths BuildBenchmarks(CsrExperimentOptions o, Action<string> log) =>
        BuildBenchmarks(o.World, o.Stage0, Path.Combine(o.OutDir, "benchmarks"), o.PopeImages, o.MmvpPairs, log);

    /// <summary>
    /// The world's RobustVQA (hard negatives mined by the stage-0 CLIP), POPE and MMVP, in their real
    /// layouts under <paramref name="dir"/>; a benchmark already there is reused.
    /// </summary>
    public static BenchmarkPaths BuildBenchmarks(string world, string stage0, string dir, int popeImages, int mmvpPairs, Action<string> log)
    {
        var o = new { World = world, Stage0 = stage0, PopeImages = popeImages, MmvpPairs = mmvpPairs };
        int side = WorldSource.ReadOptions(world).ImageSize;       // POPE and MMVP images as large as the world's own
        string robust = Path.Combine(dir, "robustvqa", WorldRobustVqa.FileName);
        if (!File.Exists(robust))
        {
            log("building world RobustVQA (hard negatives mined by the stage-0 CLIP)");
            using var clip = ClipZeroShotClassifier.FromStage0(o.Stage0, WorldTokenizer.Default);
            WorldRobustVqa.Build(o.World, clip, robust);
        }
        string pope = Path.Combine(dir, "pope");
        if (!File.Exists(Path.Combine(pope, "coco_pope_adversarial.json")))
        {
            log("building world POPE");
            WorldPope.MakeForWorld(o.World, pope, new WorldPopeOptions { Images = o.PopeImages, ImageSize = side });
        }
        string mmvp = Path.Combine(dir, "mmvp");
        if (!File.Exists(Path.Combine(mmvp, "Questions.csv")))
        {
            log("building world MMVP (pairs mined as CLIP-blind by the stage-0 CLIP)");
            using var clip = ClipZeroShotClassifier.FromStage0(o.Stage0, WorldTokenizer.Default);
            WorldMmvp.MakeForWorld(o.World, mmvp, new WorldMmvpOptions { Pairs = o.MmvpPairs, ImageSize = side }, clip);
        }
        return new BenchmarkPaths(robust, WorldRobustVqa.RobustRoot(o.World), pope, Path.Combine(pope, WorldPope.ImageFolder), mmvp);
    }

    /// <summary>Runs every arm and seed (reusing finished runs) and writes the report.</summary>
    public static IReadOnlyList<ExperimentArm> Run(CsrExperimentOptions o, Func<string, ITrainingObserver> observerFor, Action<string> log)
    {
        var paths = BuildBenchmarks(o, log);
        var arms = new List<ExperimentArm>();
        foreach (var arm in Plan(o).GroupBy(r => (r.Arch, r.Arm, r.Csr)))
        {
            var runs = arm.Select(r => RunOne(o, r.Arch, r.Arm, r.Csr, r.Seed, paths, observerFor, log)).ToList();
            arms.Add(new ExperimentArm(arm.Key.Arm, arm.Key.Arch, arm.Key.Csr, runs));
        }
        var comparisons = new List<(string, string)>();
        if (o.Arches.Contains("deem")) comparisons.Add(("DEEM", "baseline"));
        if (o.Arches.Contains("llava")) comparisons.Add(("LLaVA+CSR", "LLaVA"));
        CsrExperimentReport.Write(o.OutDir, arms, comparisons, Setup(o));
        return arms;
    }

    static string Setup(CsrExperimentOptions o) =>
        $"Tiny preset on the built-in world ({WorldSource.ReadOptions(o.World).ImageSize} px images), from the same stage-0 components (`{Path.GetFileName(o.Stage0.TrimEnd('/'))}`). " +
        $"Each run: stage 1 for {o.Stage1Steps} steps, then stage 2 (image-text SFT) for {o.Stage2Steps} steps; " +
        $"seeds {string.Join(", ", o.Seeds)}" + (o.LlavaSeeds is { } l ? $" (LLaVA-style arms: {string.Join(", ", l)})" : "") + ". " +
        $"Evaluation: world RobustVQA A/R/V and held-out in-distribution images (negatives mined by the stage-0 CLIP), world POPE ({o.PopeImages} images per split), " +
        $"world MMVP ({o.MmvpPairs} pairs mined as CLIP-blind by the stage-0 CLIP); greedy answers of at most {o.MaxNewTokens} tokens, scored with the authors' extractor. " +
        "The baseline is the paper's DEEM*: no CSR, ConvNeXt frozen, UNet trainable in stage 1. " +
        (o.CsrWeight is double w ? $"λ_CSR = {w.ToString(System.Globalization.CultureInfo.InvariantCulture)} in both stages (the recipes have 5). " : "") +
        "Per run, \"POPE yes %\" is how often the model says yes on POPE (50 = unbiased, 100 = always yes) and " +
        "\"image gap\" is the SFT NTP with another sample's image minus with its own, in nats, after stage 2 " +
        "(0 = the answers ignore the image).";

    /// <summary>
    /// Opens one stage of a run in <paramref name="o"/>'s folder: a new run, or, when an earlier attempt left a complete
    /// checkpoint there, that run continued from it (same schedule, data position, random states and optimiser).
    /// <paramref name="earlierSeconds"/>: the step and evaluation seconds the logs hold up to that checkpoint.
    /// A checkpoint of another schedule, seed or λ_CSR than <paramref name="o"/> asks for is refused, not continued.
    /// </summary>
    public static TrainingRun OpenStage(TrainingRunOptions o, ITrainingObserver? observer, string name, Action<string> log, out double earlierSeconds)
    {
        earlierSeconds = 0;
        if (TrainingCheckpoint.TryFindLatest(o.OutDir) is not { } checkpoint)
            return TrainingRun.Open(o, observer);
        var state = TrainingCheckpoint.LoadState(checkpoint);
        if ((o.Steps is int steps && steps != state.Stage.Steps) || (o.Seed is int seed && seed != state.Seed)
            || (o.CsrWeight is double csr && csr != state.Stage.CsrWeight))
            throw new DeemConfigException("--out", "out", string.Create(CultureInfo.InvariantCulture,
                $"{o.OutDir} holds a stopped run of {state.Stage.Steps} steps, seed {state.Seed}, λ_CSR {state.Stage.CsrWeight}, not the " +
                $"{o.Steps?.ToString(CultureInfo.InvariantCulture) ?? "recipe's"} steps, seed {o.Seed?.ToString(CultureInfo.InvariantCulture) ?? "recipe's"}, " +
                $"λ_CSR {o.CsrWeight?.ToString(CultureInfo.InvariantCulture) ?? "recipe's"} asked for: give another --out, or delete that folder to train it anew"));
        var run = TrainingRun.Open(o with { Resume = checkpoint }, observer);
        int step = run.ResumedFrom!.Value.Step;
        log($"{name}: resuming from {checkpoint} at step {step}");
        string metrics = Path.Combine(o.OutDir, MetricsLog.FileName), evals = Path.Combine(o.OutDir, EvalLog.FileName);
        if (File.Exists(metrics)) earlierSeconds += MetricsLog.Read(metrics).Where(m => m.Step <= step).Sum(m => m.StepSeconds);
        if (File.Exists(evals)) earlierSeconds += EvalLog.Read(evals).Where(e => e.Step <= step).Sum(e => e.Seconds);
        return run;
    }

    /// <summary>One arm × seed: stage 1, stage 2, evaluation; reused when its run.json exists, each stage resumed from its last checkpoint.</summary>
    public static ArmRun RunOne(CsrExperimentOptions o, string arch, string arm, bool csr, int seed, BenchmarkPaths paths,
        Func<string, ITrainingObserver> observerFor, Action<string> log) =>
        RunOnce(o, arch, arm, csr, seed, paths, observerFor, log);

    static ArmRun RunOnce(CsrExperimentOptions o, string arch, string arm, bool csr, int seed, BenchmarkPaths paths,
        Func<string, ITrainingObserver> observerFor, Action<string> log)
    {
        string dir = RunDir(o.OutDir, arm, seed);
        string runFile = Path.Combine(dir, RunFile);
        if (File.Exists(runFile))
        {
            log($"{arm} seed {seed}: reusing {runFile}");
            return JsonSerializer.Deserialize<ArmRun>(File.ReadAllText(runFile))
                   ?? throw new DeemFormatException(runFile, "empty run record");
        }
        var data = DataPaths.FromWorld(o.World);
        int trainingThreads = TorchSharp.torch.get_num_threads();
        var total = Stopwatch.StartNew();

        // Stage 1: alignment pretraining from the stage-0 DEEM folder (the DEEM* recipe for the arms without CSR).
        string stage1Dir = Path.Combine(dir, "stage1");
        double earlierSeconds;
        using (var stage1 = OpenStage(new TrainingRunOptions
               {
                   OutDir = stage1Dir, Data = data, Stage = 1, NoCsr = !csr, Steps = o.Stage1Steps, Seed = seed,
                   Init = o.Stage0, Arch = arch, CsrWeight = csr ? o.CsrWeight : null, Tokenizer = WorldTokenizer.Default,
                   Trainer = new TrainerOptions { OutDir = "", SaveEvery = Math.Min(o.SaveEvery, o.Stage1Steps), EvalEvery = 0, TensorBoard = false },
               }, observerFor($"{arm} seed {seed} stage 1"), $"{arm} seed {seed} stage 1", log, out earlierSeconds))
            stage1.Run();
        var stepSeconds = MetricsLog.Read(Path.Combine(stage1Dir, MetricsLog.FileName)).Select(m => m.StepSeconds).ToList();

        // Stage 2: image-text SFT from stage 1's model folder, with CSR for the CSR arms (the recipe's λ = 5, or
        // --csr-weight), without for the others; fixed SFT batches (another shuffle of the same data) scored
        // during it give the image gap.
        string stage2Dir = Path.Combine(dir, "stage2");
        using var stage2 = OpenStage(new TrainingRunOptions
        {
            OutDir = stage2Dir, Data = data, Stage = 2, Steps = o.Stage2Steps, Seed = seed,
            Init = stage1Dir, CsrWeight = csr ? o.CsrWeight : 0.0, Tokenizer = WorldTokenizer.Default, EvalSource = o.World,
            Trainer = new TrainerOptions
            {
                OutDir = "", SaveEvery = Math.Min(o.SaveEvery, o.Stage2Steps), EvalEvery = Math.Max(1, o.Stage2Steps / 4), TensorBoard = false,
            },
        }, observerFor($"{arm} seed {seed} stage 2"), $"{arm} seed {seed} stage 2", log, out double earlierSeconds2);
        stage2.Run();
        // The last evaluation, from the log: a stage resumed at its last step trains and evaluates nothing more.
        var afterSft = EvalLog.Read(Path.Combine(stage2Dir, EvalLog.FileName))[^1];
        double trainSeconds = total.Elapsed.TotalSeconds + earlierSeconds + earlierSeconds2;

        // Evaluation on the three world benchmarks.
        log($"{arm} seed {seed}: evaluating");
        var model = stage2.Model;
        model.eval();
        var pipeline = new DeemPipeline(model, stage2.Tokenizer);
        var vqa = new DeemVqaModel(pipeline, GenerationOptions.Greedy(o.MaxNewTokens));
        var suite = BenchmarkSuite.Run(vqa, paths, Path.Combine(dir, "eval"), new EvalOptions { BatchSize = o.EvalBatchSize }, $"{arm} seed {seed}");

        stepSeconds.Sort();
        double median = stepSeconds.Count == 0 ? double.NaN : stepSeconds[stepSeconds.Count / 2];
        var metrics = suite.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value);
        // How often the model says "yes" on POPE (balanced: 50 % is unbiased, 100 % is a model that
        // always says yes) — shows whether the accuracies come from looking at the image at all.
        if (suite.Pope is { } pope && pope.Splits.Count > 0)
            metrics[CsrExperimentReport.YesRatioColumn] = 100 * pope.Splits.Average(x => x.Official.YesRatio);
        metrics[CsrExperimentReport.ImageGapColumn] = afterSft.NtpShuffled - afterSft.Ntp;
        foreach (var (k, v) in WorldBreakdown.Metrics(suite, paths)) metrics[k] = v;
        var run = new ArmRun(seed, metrics, median, trainSeconds, trainingThreads, o.ConcurrentRuns);
        AtomicFile.WriteAllText(runFile, JsonSerializer.Serialize(run, new JsonSerializerOptions { WriteIndented = true }));
        return run;
    }
}
