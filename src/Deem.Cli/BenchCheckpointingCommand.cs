using System.CommandLine;
using Deem.Diagnostics;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem bench checkpointing`: the activation memory activation checkpointing saves on a widened tiny
/// LLaMA and UNet (one forward+backward each, off and on). A benchmark, not a test.
/// </summary>
public static class BenchCheckpointingCommand
{
    public static Command Create()
    {
        var width = new Option<int>("--width") { Description = "LLaMA hidden size (a multiple of 64)", DefaultValueFactory = _ => 512 };
        var layers = new Option<int>("--layers") { Description = "LLaMA decoder layers", DefaultValueFactory = _ => 8 };
        var length = new Option<int>("--length") { Description = "tokens per sequence", DefaultValueFactory = _ => 512 };
        var batch = new Option<int>("--batch") { Description = "sequences and latents per step", DefaultValueFactory = _ => 2 };
        var channels = new Option<int>("--unet-channels") { Description = "channels of the UNet's first block (a multiple of 8)", DefaultValueFactory = _ => 64 };
        var side = new Option<int>("--unet-side") { Description = "latent side", DefaultValueFactory = _ => 32 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var cmd = new Command("checkpointing", "Activation memory of a forward+backward with and without activation checkpointing (LLaMA, UNet)")
            { width, layers, length, batch, channels, side, seed };
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var rows = CheckpointingMemory.Run(new CheckpointingMemoryOptions(parse.GetValue(width), parse.GetValue(layers), parse.GetValue(length),
                parse.GetValue(batch), parse.GetValue(channels), parse.GetValue(side), parse.GetValue(seed)), line => Console.Error.WriteLine(line));
            var table = new Table().Title("one forward+backward, fp32, CPU")
                .AddColumn("model").AddColumn("checkpointing")
                .AddColumn(new TableColumn("held after forward (MiB)").RightAligned()).AddColumn(new TableColumn("peak RSS rise (MiB)").RightAligned())
                .AddColumn(new TableColumn("recomputed blocks").RightAligned()).AddColumn(new TableColumn("time (s)").RightAligned())
                .AddColumn(new TableColumn("loss").RightAligned());
            static string MiB(long bytes) => bytes < 0 ? "n/a" : $"{bytes / 1048576.0:F1}";
            foreach (var r in rows)
                table.AddRow(r.Model, r.Checkpointing ? "on" : "off", MiB(r.HeldAfterForward), MiB(r.PeakRss), r.Recomputes.ToString(),
                    $"{r.Seconds:F2}", $"{r.Loss:G7}");
            AnsiConsole.Write(table);
            return 0;
        }));
        return cmd;
    }
}
