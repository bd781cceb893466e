using Deem.World;
using System.CommandLine;
using System.Globalization;
using Deem.Data.Pipeline;
using Deem.Distributed;
using Deem.Diffusion;
using Deem.Model;
using Deem.Training;
using Deem.World.Pretraining;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem train`: one DEEM training stage on a world folder (paper §2.3, Table 11; reference §3).
/// Stage 1 (alignment: NTP + λ·NIP + λ·CSR, or the DEEM* baseline with <c>--no-csr</c>), stage 2
/// (image-text SFT) and stage 3 (mask-text SFT, adds the mask extractor, drops the diffusion model)
/// start from the previous stage's folder with <c>--init</c>; <c>--resume</c> continues a killed run
/// from its last complete checkpoint. A progress bar on a terminal, plain lines when redirected.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "tiny | paper-7b", DefaultValueFactory = _ => "tiny" };
        var stage = new Option<int>("--stage") { Description = "0 component pretraining, 1 alignment pretraining, 2 image-text SFT, 3 mask-text SFT", Required = true };
        var world = new Option<string>("--world") { Description = "world folder (deem world make)", Required = true };
        var outDir = new Option<string>("--out") { Description = "run folder: metrics, checkpoints, final model folder", Required = true };
        var init = new Option<string?>("--init") { Description = "model folder to start from (the previous stage's --out)" };
        var noCsr = new Option<bool>("--no-csr") { Description = "the baseline DEEM*: stage 1 without CSR (ConvNeXt frozen, UNet trainable), stage 2 with λ_CSR = 0" };
        var steps = new Option<int?>("--steps") { Description = "train this many steps (the schedule and warm-up are scaled to it)" };
        var resume = new Option<string?>("--resume")
        {
            Description = "continue from the last complete checkpoint of this run folder or checkpoint (default: --out); stage 0: keep the components already complete in --out and train the rest",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var strict = new Option<bool>("--strict") { Description = "malformed records are errors naming file and line, not skips" };
        var seed = new Option<int?>("--seed") { Description = "seed of the weights, noise and timesteps (default: the stage's)" };
        var saveEvery = new Option<int?>("--save-every") { Description = "steps between checkpoints (default: the stage's)" };
        var keepCheckpoints = new Option<int?>("--keep-checkpoints")
        {
            Description = "newest complete checkpoints kept in the run folder, older ones deleted; 0 keeps every one (default: the stage's keep_checkpoints, 3)",
        };
        var logEvery = new Option<int?>("--log-every") { Description = "steps between plain log lines (default: the stage's)" };
        var evalEvery = new Option<int?>("--eval-every") { Description = "steps between fixed-batch, fixed-noise evaluations, eval.jsonl (default: the stage's; 0 = none)" };
        var evalBatches = new Option<int?>("--eval-batches") { Description = "fixed batches each evaluation scores (default: the stage's eval_batches)" };
        var evalWorld = new Option<string?>("--eval-world") { Description = "world folder the evaluation batches come from, e.g. one made with another --seed (default: --world, another shuffle)" };
        var batchSize = new Option<int?>("--batch-size") { Description = "rows per micro-batch on each rank (default: the stage's); stage 0: pairs per CLIP batch and latents per UNet batch (default 32)" };
        var gradAccum = new Option<int?>("--grad-accum") { Description = "micro-batches per optimiser step on each rank (default: the stage's)" };
        var stopAt = new Option<int?>("--stop-at") { Description = "stop after this step, keeping the schedule (an interrupted run to --resume)" };
        var threads = ThreadsOption.Create($"{ThreadsOption.TinyTraining} for a new tiny-preset run, else torch's");
        var zero1 = new Option<bool>("--zero1") { Description = "ZeRO-1: shard AdamW's state across the ranks of `mpirun -np N deem train`" };
        var componentSteps = new Option<string?>("--component-steps") { Description = "stage 0: steps of CLIP,LLaMA,VAE,UNet, e.g. 300,200,40,60 (overrides --steps)" };
        var resolution = new Option<int?>("--resolution")
        {
            Description = "stage 0: image side in pixels the components train at, a multiple of 32 (default 64); later stages read and denoise images at it",
        };
        var vaeCache = new Option<int>("--vae-cache-mib")
        {
            Description = "MiB of the frozen VAE's posteriors kept per run, so an image of a later epoch is not encoded again for NIP and CSR (CPU images; 0 = encode every time)",
            DefaultValueFactory = _ => (int)(VaePosteriorCache.DefaultCapacityBytes >> 20),
        };
        var arch = new Option<string?>("--arch")
        {
            Description = "build the --init folder's model as deem (perceiver + MMFS) or llava (MLP projector; paper Table 5), e.g. a stage 0 folder as the LLaVA-style arm (default: the folder's)",
        };
        var cmd = new Command("train", "Train one DEEM stage (data parallel under `mpirun -np N`)")
            { preset, stage, world, outDir, init, arch, noCsr, steps, resume, strict, seed, saveEvery, keepCheckpoints, logEvery, evalEvery, evalWorld, evalBatches, batchSize, gradAccum, stopAt, threads, zero1, componentSteps, resolution, vaeCache };
        var placement = PlacementOptions.ForTraining(cmd);
        cmd.SetAction(parse =>
        {
            string run = parse.GetValue(outDir)!;
            var where = placement.Read(parse);       // a device this build cannot reach fails here, before any work
            if (parse.GetValue(stage) == 0) RefuseGiven(parse, "stage 0 pretrains the tiny components on the CPU in fp32", placement.Options);
            if (parse.GetValue(stage) == 0)
                RefuseGiven(parse, "stage 0 pretrains the components from scratch with its own loops",
                    init, arch, noCsr, strict, saveEvery, keepCheckpoints, logEvery, evalEvery, evalWorld, evalBatches, gradAccum, stopAt, zero1, vaeCache);
            else
                RefuseGiven(parse, "--component-steps and --resolution set stage 0's component loops (later stages take the resolution of the --init model)", componentSteps, resolution);
            if (parse.GetValue(keepCheckpoints) is < 0)
                throw new DeemConfigException("--keep-checkpoints", "keep-checkpoints", $"must be ≥ 0 (0 keeps every checkpoint), found {parse.GetValue(keepCheckpoints)}");
            if (parse.GetValue(vaeCache) < 0) throw new DeemConfigException("--vae-cache-mib", "vae-cache-mib", $"must be ≥ 0, found {parse.GetValue(vaeCache)}");
            if (parse.GetValue(stage) != 0 && parse.GetResult(resume) is not null)
                RefuseGiven(parse, "--resume continues with the stage, steps, seed and weights recorded in the run's checkpoint", steps, seed, preset, init, arch, noCsr);
            if (parse.GetValue(stage) != 0) TrainingSetup.CheckArch(parse.GetValue(arch), parse.GetValue(init));   // before any file is read
            // A resumed run's preset is in its checkpoint (--preset is refused with --resume): torch's threads unless asked.
            bool tiny = parse.GetValue(preset) == "tiny" && parse.GetResult(resume) is null;
            ThreadsOption.Apply(parse, threads, whenUnset: tiny ? ThreadsOption.TinyTraining : null);
            if (parse.GetValue(stage) == 0)
            {
                if (parse.GetValue(preset) != "tiny")
                    throw new DeemConfigException("--preset", "preset", "stage 0 pretrains the tiny components; the paper's start from the published checkpoints");
                var s0 = new Stage0Options { Seed = parse.GetValue(seed) ?? 0 };
                if (parse.GetResult(resume) is not null)
                    s0 = parse.GetValue(resume) is { } from && Path.GetFullPath(from) != Path.GetFullPath(run)
                        ? throw new DeemConfigException("--resume", "resume", $"stage 0 resumes in its --out folder ({run}), found '{from}'")
                        : s0 with { Resume = true };
                if (parse.GetValue(steps) is int per)
                    s0 = per <= 0 ? throw new DeemConfigException("--steps", "steps", $"must be > 0, found {per}") : s0 with { ClipSteps = per, LlmSteps = per, VaeSteps = per, UNetSteps = per };
                if (parse.GetValue(componentSteps) is { } list)
                {
                    var n = list.Split(',').Select(x => int.TryParse(x, out int v) && v > 0 ? v
                        : throw new DeemConfigException("--component-steps", "component-steps", $"must be four positive integers CLIP,LLaMA,VAE,UNet, found '{list}'")).ToArray();
                    if (n.Length != 4) throw new DeemConfigException("--component-steps", "component-steps", $"must be four positive integers CLIP,LLaMA,VAE,UNet, found '{list}'");
                    s0 = s0 with { ClipSteps = n[0], LlmSteps = n[1], VaeSteps = n[2], UNetSteps = n[3] };
                }
                if (parse.GetValue(resolution) is int side)
                    s0 = side >= 32 && side % 32 == 0 ? s0 with { Resolution = side }
                        : throw new DeemConfigException("--resolution", "resolution", $"must be a positive multiple of 32, found {side}");
                if (parse.GetValue(batchSize) is int bs)
                    s0 = bs >= 2 ? s0 with { BatchSize = bs } : throw new DeemConfigException("--batch-size", "batch-size", $"stage 0: pairs per CLIP batch (its negatives) and latents per UNet batch, must be ≥ 2, found {bs}");
                PretrainComponents(parse.GetValue(world)!, run, s0);
                return 0;
            }
            var paths = DataPaths.FromWorld(parse.GetValue(world)!);
            bool isStrict = parse.GetValue(strict);
            var launch = LaunchEnvironment.Read();
            using var comm = Collectives.Open(launch);
            if (comm.WorldSize > 1) Console.Error.WriteLine($"rank {comm.Rank} of {comm.WorldSize} (local {comm.LocalRank}, pid {Environment.ProcessId}, {comm.Backend})");
            return JobFailure.RunOrAbort(comm, () => Train(parse, paths, isStrict, run, launch, comm, where));
        });
        return cmd;

        int Train(ParseResult parse, DataPaths paths, bool isStrict, string run, LaunchEnvironment launch, ICollectives comm, Placement where)
        {
            ITrainingObserver observer = Console.IsOutputRedirected || comm.Rank > 0 ? new PlainTrainingObserver(Console.Out) : new ProgressObserver();
            string evalSource = parse.GetValue(evalWorld) ?? parse.GetValue(world)!;
            bool resuming = parse.GetResult(resume) is not null;
            using var training = TrainingRun.Open(new TrainingRunOptions
            {
                OutDir = run, Data = paths, Strict = isStrict, Stage = parse.GetValue(stage),
                Preset = parse.GetValue(preset)!, NoCsr = parse.GetValue(noCsr), Steps = parse.GetValue(steps), Seed = parse.GetValue(seed),
                Init = parse.GetValue(init), Arch = parse.GetValue(arch), Tokenizer = WorldTokenizer.Default, Resume = resuming ? parse.GetValue(resume) ?? run : null,
                BatchSize = parse.GetValue(batchSize), GradAccum = parse.GetValue(gradAccum),
                EvalData = DataPaths.FromWorld(evalSource), EvalSource = evalSource, EvalBatches = parse.GetValue(evalBatches),
                Trainer = new TrainerOptions
                {
                    OutDir = run, SaveEvery = parse.GetValue(saveEvery), KeepCheckpoints = parse.GetValue(keepCheckpoints), LogEvery = parse.GetValue(logEvery), EvalEvery = parse.GetValue(evalEvery),
                    StopAtStep = parse.GetValue(stopAt), Zero1 = parse.GetValue(zero1), Collectives = launch.Launcher == "none" ? null : comm,
                    Placement = where, VaePosteriorCacheBytes = (long)parse.GetValue(vaeCache) << 20,
                },
            }, observer);
            if (comm.Rank == 0 && training.InitReport is { } report)
                AnsiConsole.MarkupLine($"init {Markup.Escape(parse.GetValue(init)!)}: {report.Loaded.Count} tensors loaded, " +
                                       $"{report.Missing.Count} missing (new in this stage), {report.Unexpected.Count} unexpected (dropped)");
            if (comm.Rank == 0 && training.ResumedFrom is { } resumed)
                AnsiConsole.MarkupLine($"resuming {Markup.Escape(training.Stage.Name)} from {Markup.Escape(resumed.Checkpoint)} at step {resumed.Step}");
            var result = observer is ProgressObserver progress ? progress.Run(training.Trainer) : training.Run();
            if (result.SkipTotals.Count > 0 && comm.Rank == 0)
                AnsiConsole.MarkupLine($"[yellow]skipped records:[/] {Markup.Escape(string.Join(", ", result.SkipTotals.Select(kv => $"{kv.Key} {kv.Value}")))} (--strict makes them errors)");
            return 0;
        }

        // An option that this kind of run would parse and then ignore is refused, naming it.
        static void RefuseGiven(ParseResult parse, string why, params Option[] options)
        {
            foreach (var option in options)
                if (parse.GetResult(option) is { Implicit: false })
                    throw new DeemException($"{option.Name} cannot be used here: {why}");
        }
    }

    /// <summary>
    /// Stage 0 (<see cref="Stage0.Run"/>: the four tiny components, then the DEEM model folder they make) with
    /// a bar per component on a terminal, a line every 50 steps when redirected; prints the loss table.
    /// </summary>
    public static Stage0Summary PretrainComponents(string world, string outDir, Stage0Options options)
    {
        Stage0Summary summary;
        if (Console.IsOutputRedirected)
            summary = Stage0.Run(world, outDir, options, s =>
            {
                if (s.Step == s.TotalSteps || s.Step % 50 == 0)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stage0 {s.Component} step {s.Step}/{s.TotalSteps} loss {s.Loss:F4} {s.ItPerSec:F2} it/s"));
            });
        else
            summary = TorchProgress.Create()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var tasks = new Dictionary<string, ProgressTask>();
                    return Stage0.Run(world, outDir, options, s =>
                    {
                        if (!tasks.TryGetValue(s.Component, out var t))
                            tasks[s.Component] = t = ctx.AddTask(s.Component, maxValue: s.TotalSteps);
                        t.Value = s.Step;
                        t.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{s.Component,-5} loss {s.Loss:F4} {s.ItPerSec:F1} it/s"));
                        ctx.Refresh();
                    });
                });

        if (summary.Kept is { Count: > 0 } kept)
            AnsiConsole.MarkupLine(Markup.Escape($"resumed: {string.Join(", ", kept)} loaded from {outDir} (their losses as logged), the rest trained"));
        var table = new Table().AddColumn("component").AddColumn("steps").AddColumn("first loss (mean of first n)").AddColumn("last loss (mean of last n)").AddColumn("seconds");
        foreach (var c in summary.Components)
        {
            int n = Math.Clamp(c.Steps / 3, 1, 10);
            table.AddRow(c.Component, c.Steps.ToString(CultureInfo.InvariantCulture), c.HeadMean(n).ToString("F4", CultureInfo.InvariantCulture),
                c.TailMean(n).ToString("F4", CultureInfo.InvariantCulture), c.Seconds.ToString("F1", CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        if (summary.UNetCondition is { } critic)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"UNet loss on {critic.Pairs} pairs: own caption {critic.Own:F5}, another pair's {critic.Shuffled:F5} (gap {critic.Gap:P2}), empty prompt {critic.Empty:F5}, white-noise floor {critic.WhiteNoise:F5} — near 0 % the UNet ignores its condition, and CSR can send the encoder almost no gradient; at the floor it has learnt nothing of the latents"));
        if (summary.LatentSignalShare is { } share)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"VAE latents: {share:P1} of their variance is the image's, the rest the posterior's noise"));
        AnsiConsole.MarkupLine($"components and the assembled DEEM model folder: [bold]{Markup.Escape(outDir)}[/]");
        return summary;
    }

    /// <summary>A live Spectre.Console progress bar (step/total, loss terms, it/s, ETA) around <see cref="Trainer.Run"/>.</summary>
    sealed class ProgressObserver : ITrainingObserver
    {
        TrainingPlan _plan = new(0, 0, 0, 1);
        ProgressContext? _context;
        ProgressTask? _task;
        double _seconds;
        int _steps;

        public TrainResult Run(Trainer trainer) =>
            TorchProgress.Create()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx => { _context = ctx; return trainer.Run(); });

        public void Begin(TrainingPlan plan)
        {
            _plan = plan;
            _task = _context!.AddTask($"step {plan.StartStep}/{plan.StopStep}", maxValue: plan.StopStep);
            _task.Value = plan.StartStep;
            _context.Refresh();
        }

        public void Step(StepMetrics m)
        {
            _seconds += m.StepSeconds;
            _steps++;
            _task!.Value = m.Step;
            _task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"step {m.Step}/{_plan.StopStep} loss {m.Loss:F3} ntp {m.Ntp:F3} nip {m.Nip:F3} csr {m.Csr:F3} {_steps / Math.Max(_seconds, 1e-9):F2} it/s"));
            _context!.Refresh();
        }

        public void Info(string message) => AnsiConsole.MarkupLine(Markup.Escape(message));

        public void End() => _task?.StopTask();
    }
}
