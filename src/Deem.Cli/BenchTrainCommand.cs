using Deem.World.Experiments;
using System.CommandLine;
using Deem.Diagnostics;
using Deem.Training;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem bench train-step`: the cost of CSR (paper Table 3: DEEM's stage-1 step takes 1.14× the
/// baseline's), measured with the variants interleaved step by step on the same batches; per module
/// time and share, FLOPs and MFU against the fp32 GEMM rate of the same process.
/// </summary>
public static class BenchTrainCommand
{
    /// <summary>The `train-step` subcommand of `deem bench`.</summary>
    public static Command TrainStep()
    {
        var preset = new Option<string>("--preset") { Description = $"tiny or {TrainStepBenchmark.WidePreset} (CPU)", DefaultValueFactory = _ => "tiny" };
        var world = new Option<string?>("--world") { Description = "world folder; default: a small world written to a temp folder" };
        var pairs = new Option<int>("--pairs", "--steps") { Description = "timed rounds (each runs every variant once on the same batch)", DefaultValueFactory = _ => 40 };
        var warmup = new Option<int>("--warmup") { Description = "untimed rounds first", DefaultValueFactory = _ => 3 };
        var variants = new Option<string[]>("--variants")
        {
            Description = $"variants to interleave: {string.Join(", ", TrainStepBenchmark.VariantNames)}; NAME@N runs it with N torch threads", AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => TrainStepBenchmark.VariantNames.ToArray(),
        };
        var batchSize = new Option<int?>("--batch-size") { Description = "sequences per step (default: the stage's)" };
        var maxLength = new Option<int?>("--max-length") { Description = "tokens per sequence (default: the stage's)" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var matmul = new Option<int>("--matmul-size") { Description = "side of the fp32 GEMM that sets the MFU's peak", DefaultValueFactory = _ => 512 };
        var threads = new Option<int?>("--threads") { Description = "torch intra-op threads (default: torch's)" };
        var vaeCache = new Option<bool>("--vae-cache")
        {
            Description = "each variant keeps the frozen VAE's posteriors as training does (images seen before are not encoded again); default: every image encoded, a first epoch's step",
        };
        var cmd = new Command("train-step", "Stage-1 step time with and without CSR, interleaved; per-module time, FLOPs and MFU")
            { preset, world, pairs, warmup, variants, batchSize, maxLength, seed, matmul, threads, vaeCache };
        var placement = PlacementOptions.ForTraining(cmd);
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var options = new TrainStepBenchmarkOptions(parse.GetValue(preset)!, parse.GetValue(pairs), parse.GetValue(warmup),
                parse.GetValue(variants)!.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToArray(),
                parse.GetValue(world), parse.GetValue(batchSize), parse.GetValue(maxLength), parse.GetValue(seed), parse.GetValue(matmul),
                parse.GetValue(threads), placement.Read(parse), parse.GetValue(vaeCache));
            var r = TrainStepBenchmark.Run(options, line => Console.Error.Write($"\r{line}   "));
            Console.Error.WriteLine();
            Print(r);
            return 0;
        }));
        return cmd;
    }

    static void Print(TrainStepBenchmarkResult r)
    {
        var steps = new Table().Title($"stage-1 steps, preset {r.Options.Preset}, " +
                                      (r.Options.VaeCache ? "VAE posteriors kept per variant (a later epoch's step)" : "every image encoded (a first epoch's step)"))
            .AddColumn("variant").AddColumn(new TableColumn("trainable").RightAligned())
            .AddColumn(new TableColumn("median step (s)").RightAligned()).AddColumn(new TableColumn("min / max (s)").RightAligned())
            .AddColumn(new TableColumn("GFLOP/step").RightAligned()).AddColumn(new TableColumn("GFLOP/s").RightAligned())
            .AddColumn(new TableColumn("MFU").RightAligned());
        foreach (var v in r.Variants)
            steps.AddRow(v.Name, v.Trainable.ToString("N0"), v.Median.ToString("F3"), $"{v.StepSeconds.Min():F3} / {v.StepSeconds.Max():F3}",
                (v.Flops / 1e9).ToString("F3"), (v.Flops / v.Median / 1e9).ToString("F2"), r.Mfu(v).ToString("P2"));
        AnsiConsole.Write(steps);

        var modules = new Table().Title("per module: ms per step (share) and training GFLOP per step").AddColumn("module");
        foreach (var v in r.Variants) modules.AddColumn(new TableColumn(v.Name).RightAligned());
        var names = new[] { StepProfiler.Data, StepProfiler.Encoder, StepProfiler.QFormer, StepProfiler.Llm, StepProfiler.Mmfs,
            StepProfiler.UNet, StepProfiler.Vae, StepProfiler.Backward, StepProfiler.Optimizer, "other" };
        foreach (var name in names)
            modules.AddRow([name, .. r.Variants.Select(v =>
            {
                double s = v.ModuleSeconds.GetValueOrDefault(name), total = v.ModuleSeconds.Values.Sum();
                string flops = v.TrainingFlops.TryGetValue(name, out var f) ? $" · {f / 1e9:F3}" : "";
                return $"{s * 1e3:F1} ({s / total:P0}){flops}";
            })]);
        AnsiConsole.Write(modules);

        var ratios = new Table().Title($"median of per-round ratios over {r.Options.Pairs} rounds (same batch per round)")
            .AddColumn("ratio").AddColumn(new TableColumn("median").RightAligned()).AddColumn(new TableColumn("IQR").RightAligned());
        foreach (var q in r.Ratios) ratios.AddRow($"{q.A} / {q.B}", $"{q.Median:F3}×", $"{q.Q1:F3} – {q.Q3:F3}");
        AnsiConsole.Write(ratios);
        AnsiConsole.MarkupLine($"batches of {r.Stage.BatchSize} × ≤{r.Stage.MaxLength} tokens, {r.Options.Warmup} untimed rounds, {r.Threads} torch threads; " +
            $"fp32 GEMM {r.Options.MatmulSize}³: {r.MatmulGflops.Before:F1} GFLOP/s before, {r.MatmulGflops.After:F1} after (MFU against the better, " +
            $"per thread count: {string.Join(", ", r.PeakByThreads.Select(kv => $"{kv.Key} → {kv.Value:F1}"))})");
        AnsiConsole.MarkupLine("Backward counted as 2 × forward on the gradient path (the VAE runs without gradient); " +
            $"paper Table 3, stage 1: DEEM / DEEM* = 1.14×. Variants: {TrainStepBenchmark.Fused}, {TrainStepBenchmark.Separate} = DEEM stage 1 with NIP+CSR " +
            $"in one / two UNet calls; {TrainStepBenchmark.NoCsr} = the same recipe with λ_CSR = 0; {TrainStepBenchmark.Baseline} = DEEM* (ConvNeXt frozen, UNet trained, no CSR).");
    }
}
