using System.CommandLine;
using Deem.Plotting;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem plot --run DIR --out loss.png`: the loss curves of a training run (total λ-weighted loss and
/// each term of paper §2.3: NTP, NIP, CSR) from its <c>metrics.jsonl</c>; when the run has an
/// <c>eval.jsonl</c> (fixed-batch, fixed-noise evaluations), its curves go to <c>{out}-eval.png</c>
/// (<see cref="RunPlots"/>).
/// </summary>
public static class PlotCommand
{
    public static Command Create()
    {
        var run = new Option<string>("--run") { Description = "a training run folder (holds metrics.jsonl)", Required = true };
        var outPath = new Option<string>("--out") { Description = "PNG file to write", DefaultValueFactory = _ => "loss.png" };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 1000 };
        var height = new Option<int>("--height") { DefaultValueFactory = _ => 600 };
        var cmd = new Command("plot", "Draw a run's loss curves to a PNG") { run, outPath, width, height };
        cmd.SetAction(parse =>
        {
            var w = RunPlots.Draw(parse.GetValue(run)!, parse.GetValue(outPath)!, parse.GetValue(width), parse.GetValue(height));
            AnsiConsole.MarkupLine($"{w.Steps} steps → {Markup.Escape(w.LossPng)}");
            if (w.EvalPng is { } evalPng) AnsiConsole.MarkupLine($"{w.Evaluations} evaluations → {Markup.Escape(evalPng)}");
            return 0;
        });
        return cmd;
    }
}
