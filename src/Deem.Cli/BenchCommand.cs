using Deem.World;
using System.CommandLine;
using Deem.Config;
using Deem.Inference;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem bench generate`: CPU generation speed with random weights — decode tokens/s with and without
/// the KV cache for the tiny preset and the 8 × 512 CPU preset, decode at batch 1 and 8 against the
/// memory roofline (weight bytes per step vs GEMV bandwidth measured in the same run), and DDIM-50 with
/// CFG: images/s and the UNet's FLOP rate. A benchmark, not a test.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var contexts = new Option<int[]>("--context") { Description = "prompt lengths", DefaultValueFactory = _ => [128, 512], AllowMultipleArgumentsPerToken = true };
        var steps = new Option<int>("--decode-steps") { Description = "timed decode steps with the cache", DefaultValueFactory = _ => 64 };
        var slowSteps = new Option<int>("--uncached-steps") { Description = "timed decode steps without the cache", DefaultValueFactory = _ => 16 };
        var batches = new Option<int[]>("--batch") { Description = "batch sizes of the roofline rows", DefaultValueFactory = _ => [1, 8], AllowMultipleArgumentsPerToken = true };
        var ddimSteps = new Option<int>("--ddim-steps") { Description = "DDIM steps per image", DefaultValueFactory = _ => 50 };
        var images = new Option<int>("--images") { Description = "images timed (0: no image generation)", DefaultValueFactory = _ => 3 };
        var threads = new Option<int?>("--threads") { Description = "torch intra-op threads (default: torch's)" };
        var generate = new Command("generate", "Decode tokens/s with and without KV cache, against the memory roofline, and DDIM images/s")
            { contexts, steps, slowSteps, batches, ddimSteps, images, threads };
        var placement = PlacementOptions.ForInference(generate);
        generate.SetAction(parse => CliErrors.Run(parse, () =>
        {
            if (parse.GetValue(images) < 0) throw new DeemConfigException("--images", "images", $"must be ≥ 0, found {parse.GetValue(images)}");
            var r = GenerationBenchmark.Run(new GenerationBenchmarkOptions(parse.GetValue(contexts)!, parse.GetValue(steps), parse.GetValue(slowSteps),
                parse.GetValue(batches)!, parse.GetValue(steps), parse.GetValue(ddimSteps), parse.GetValue(images), parse.GetValue(threads),
                placement.Read(parse)));
            var table = new Table().Title("decode speed (1 row, greedy, random weights)")
                .AddColumn("preset").AddColumn(new TableColumn("context").RightAligned())
                .AddColumn(new TableColumn("KV cache tok/s").RightAligned()).AddColumn(new TableColumn("no cache tok/s").RightAligned())
                .AddColumn(new TableColumn("ratio").RightAligned());
            foreach (var d in r.Decode)
                table.AddRow(d.Preset, d.Context.ToString(), $"{d.CachedTokensPerSecond:F1}", $"{d.UncachedTokensPerSecond:F1}", $"{d.Ratio:F1}×");
            AnsiConsole.Write(table);

            var roof = new Table().Title("decode vs memory roofline (KV cache, greedy)")
                .AddColumn("preset").AddColumn(new TableColumn("batch").RightAligned()).AddColumn(new TableColumn("context").RightAligned())
                .AddColumn(new TableColumn("MB/step (weights + cache)").RightAligned()).AddColumn(new TableColumn("tok/s").RightAligned())
                .AddColumn(new TableColumn("roofline tok/s").RightAligned()).AddColumn(new TableColumn("of roofline").RightAligned());
            foreach (var d in r.Roofline)
                roof.AddRow(d.Preset, d.Batch.ToString(), d.Context.ToString(), $"{d.WeightBytes / 1e6:F1} + {d.CacheBytes / 1e6:F1}",
                    $"{d.TokensPerSecond:F1}", $"{d.RooflineTokensPerSecond:F1}", d.Fraction.ToString("P0"));
            AnsiConsole.Write(roof);
            AnsiConsole.MarkupLine($"bandwidth in this run: GEMV {r.Bandwidth.GemvBytesPerSecond / 1e9:F2} GB/s (after the rows {r.BandwidthAfter.GemvBytesPerSecond / 1e9:F2}), " +
                $"copy {r.Bandwidth.CopyBytesPerSecond / 1e9:F2} GB/s (after {r.BandwidthAfter.CopyBytesPerSecond / 1e9:F2}), " +
                $"F.linear on one row {r.Bandwidth.LinearBytesPerSecond / 1e9:F2} GB/s (after {r.BandwidthAfter.LinearBytesPerSecond / 1e9:F2}); roofline = batch × GEMV bandwidth / bytes per step; {r.Threads} torch threads");
            var s = r.Sampling;
            if (s.UNetCalls > 0)
                AnsiConsole.MarkupLine($"image generation, tiny preset, {WorldPresets.Tiny.DecoderResolution} px, DDIM-{parse.GetValue(ddimSteps)} with CFG: " +
                    $"[bold]{s.ImagesPerSecond:F2} images/s[/] ({1 / s.ImagesPerSecond:F2} s per image); UNet {s.UNetCalls} calls, " +
                    $"{s.UNetSeconds / s.Seconds:P0} of the time, {s.UNetFlopsPerSecond / 1e9:F2} GFLOP/s while it runs");
            return 0;
        }));
        return new Command("bench", "Speed measurements") { generate };
    }
}
