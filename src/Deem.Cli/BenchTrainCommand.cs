using System.CommandLine;
using Deem.Config;
using Deem.Data.Formats;
using Deem.Data.Pipeline;
using Deem.World;
using Deem.Training;
using Deem.Text;
using Spectre.Console;
using static TorchSharp.torch;

namespace Deem.Cli;

/// <summary>
/// `deem bench train-step`: the cost of CSR (paper Table 3: DEEM's stage-1 step takes 1.14× the
/// baseline's). In one process and on the same batches, the median optimiser-step time of DEEM stage 1
/// (NTP + λ·NIP + λ·CSR; LLM and UNet frozen, ConvNeXt trained) and of the DEEM* baseline (CSR weight 0;
/// ConvNeXt frozen, UNet trained), and their ratio.
/// </summary>
public static class BenchTrainCommand
{
    /// <summary>The `train-step` subcommand of `deem bench`.</summary>
    public static Command TrainStep()
    {
        var preset = new Option<string>("--preset") { Description = "tiny (CPU)", DefaultValueFactory = _ => "tiny" };
        var world = new Option<string?>("--world") { Description = "world folder; default: a small world written to a temp folder" };
        var steps = new Option<int>("--steps") { Description = "timed optimiser steps per variant", DefaultValueFactory = _ => 8 };
        var warmup = new Option<int>("--warmup") { Description = "untimed steps first", DefaultValueFactory = _ => 2 };
        var batchSize = new Option<int?>("--batch-size") { Description = "sequences per step (default: the stage's)" };
        var maxLength = new Option<int?>("--max-length") { Description = "tokens per sequence (default: the stage's)" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var trainStep = new Command("train-step", "Median stage-1 step time with CSR on and off") { preset, world, steps, warmup, batchSize, maxLength, seed };
        trainStep.SetAction(parse =>
        {
            string presetName = parse.GetValue(preset)!;
            if (presetName != "tiny") throw new DeemConfigException("--preset", "preset", "the step benchmark runs on CPU and needs the tiny preset");
            int timed = parse.GetValue(steps), untimed = parse.GetValue(warmup), s = parse.GetValue(seed);
            if (timed < 1 || untimed < 0) throw new DeemConfigException("--steps/--warmup", "steps", "need --steps ≥ 1 and --warmup ≥ 0");
            StageConfig Shape(StageConfig c) => c with
            {
                BatchSize = parse.GetValue(batchSize) ?? c.BatchSize, MaxLength = parse.GetValue(maxLength) ?? c.MaxLength,
                // A constant LR past warm-up: both variants update their weights at every timed step.
                Schedule = "constant", WarmupSteps = 0,
            };
            var deem = Shape(TrainingSetup.StageConfigFor(presetName, 1));
            var baseline = Shape(TrainingSetup.StageConfigFor(presetName, 1, noCsr: true));

            string? temp = null;
            string root = parse.GetValue(world) ?? (temp = Path.Combine(Path.GetTempPath(), "deem-bench-world-" + Guid.NewGuid().ToString("N")));
            try
            {
                if (temp is not null) WorldWriter.Make(temp, WorldOptions.Tiny with { ImageSize = 64 });
                var tokenizer = WorldTokenizer.Default;
                var batches = new List<DeemBatch>();
                using (var stream = TrainingSetup.OpenStream(deem, DataPaths.FromWorld(root), tokenizer, WorldPresets.Tiny.ImageTokens, strict: false))
                    for (int i = 0; i < untimed + timed; i++) batches.Add(stream.Next());

                var table = new Table().AddColumn("variant").AddColumn(new TableColumn("trainable").RightAligned())
                    .AddColumn(new TableColumn("median step (s)").RightAligned()).AddColumn(new TableColumn("min / max (s)").RightAligned());
                var medians = new List<double>();
                foreach (var (name, config) in new[] { ("DEEM stage 1 (CSR on)", deem), ("baseline DEEM* (CSR off)", baseline) })
                {
                    var (model, tok, _) = TrainingSetup.BuildModel(presetName, config, init: null, s, WorldTokenizer.Default);
                    using var _m = model;
                    using var replay = new ReplayStream(batches);
                    string runDir = Path.Combine(Path.GetTempPath(), "deem-bench-run-" + Guid.NewGuid().ToString("N"));
                    using var trainer = new Trainer(model, tok, config, replay, new TrainerOptions { OutDir = runDir, Seed = s, TensorBoard = false });
                    var times = new List<double>();
                    for (int i = 0; i < untimed + timed; i++)
                    {
                        var m = trainer.TrainStep();
                        if (i >= untimed) times.Add(m.StepSeconds);
                    }
                    times.Sort();
                    double median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
                    medians.Add(median);
                    long trainable = trainer.Groups.Sum(g => g.Parameters.Sum(p => p.Parameter.numel()));
                    table.AddRow(name, trainable.ToString("N0"), median.ToString("F3"), $"{times[0]:F3} / {times[^1]:F3}");
                }
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine($"{timed} timed steps after {untimed} untimed, batches of {deem.BatchSize} × ≤{deem.MaxLength} tokens, {get_num_threads()} torch threads");
                AnsiConsole.MarkupLine($"CSR on / off: [bold]{medians[0] / medians[1]:F2}×[/]   (paper Table 3, stage 1: 1.14×)");
                foreach (var batch in batches) batch.Dispose();
            }
            finally
            {
                if (temp is not null && Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            }
            return 0;
        });
        return trainStep;
    }

    /// <summary>Serves copies of recorded batches in order, again and again.</summary>
    sealed class ReplayStream(IReadOnlyList<DeemBatch> batches) : IBatchStream
    {
        int _next;

        public DeemBatch Next()
        {
            var b = batches[_next++ % batches.Count];
            return new DeemBatch
            {
                Ids = b.Ids.clone(), AttentionMask = b.AttentionMask.clone(), ImagesEnc = b.ImagesEnc.clone(), ImagesDec = b.ImagesDec.clone(),
                ImagesPerSequence = b.ImagesPerSequence, RegionMasks = b.RegionMasks?.clone(), PromptOffsets = b.PromptOffsets,
                GtTextIds = b.GtTextIds?.clone(), NtpWeight = b.NtpWeight, NipWeight = b.NipWeight, Sources = b.Sources,
            };
        }

        public DataPosition Position => new() { Stage = 1, Batches = _next };
        public SkipCounter Skips { get; } = new();
        public IReadOnlyDictionary<string, int> SkipTotals => Skips.Counts;
        public void Dispose() { }
    }
}
