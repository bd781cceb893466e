using Deem.World;
using System.CommandLine;
using Deem.Config;
using Deem.Inference;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem bench generate`: CPU generation speed with random weights — decode tokens/s with and without
/// the KV cache at 128 and 512 tokens of context for the tiny preset and the 8 × 512 CPU preset, the
/// cache/no-cache ratio, and images/s of DDIM-50 at 64 px with the tiny preset. A benchmark, not a test.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var contexts = new Option<int[]>("--context") { Description = "prompt lengths", DefaultValueFactory = _ => [128, 512], AllowMultipleArgumentsPerToken = true };
        var steps = new Option<int>("--decode-steps") { Description = "timed decode steps with the cache", DefaultValueFactory = _ => 64 };
        var slowSteps = new Option<int>("--uncached-steps") { Description = "timed decode steps without the cache", DefaultValueFactory = _ => 16 };
        var ddimSteps = new Option<int>("--ddim-steps") { Description = "DDIM steps per image", DefaultValueFactory = _ => 50 };
        var images = new Option<int>("--images") { Description = "images timed", DefaultValueFactory = _ => 3 };
        var generate = new Command("generate", "Decode tokens/s with and without KV cache, and DDIM images/s") { contexts, steps, slowSteps, ddimSteps, images };
        generate.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var table = new Table().Title("decode speed (1 row, greedy, random weights)")
                .AddColumn("preset").AddColumn(new TableColumn("context").RightAligned())
                .AddColumn(new TableColumn("KV cache tok/s").RightAligned()).AddColumn(new TableColumn("no cache tok/s").RightAligned())
                .AddColumn(new TableColumn("ratio").RightAligned());
            foreach (var config in new[] { WorldPresets.Tiny, GenerationBenchmark.CpuMedium })
                foreach (var ctx in parse.GetValue(contexts)!)
                {
                    if (ctx + parse.GetValue(steps) > config.Llm.MaxPositionEmbeddings)
                        throw new ArgumentException($"--context {ctx} + steps exceeds {config.Name}'s max_position_embeddings {config.Llm.MaxPositionEmbeddings}");
                    var r = GenerationBenchmark.Decode(config, ctx, parse.GetValue(steps), parse.GetValue(slowSteps));
                    table.AddRow(r.Preset, ctx.ToString(), $"{r.CachedTokensPerSecond:F1}", $"{r.UncachedTokensPerSecond:F1}", $"{r.Ratio:F1}×");
                }
            AnsiConsole.Write(table);
            var ips = GenerationBenchmark.ImagesPerSecond(WorldPresets.Tiny, parse.GetValue(ddimSteps), parse.GetValue(images));
            AnsiConsole.MarkupLine($"image generation, tiny preset, {WorldPresets.Tiny.DecoderResolution} px, DDIM-{parse.GetValue(ddimSteps)} with CFG: " +
                $"[bold]{ips:F2} images/s[/] ({1 / ips:F2} s per image)");
            return 0;
        }));
        return new Command("bench", "Speed measurements") { generate };
    }
}
