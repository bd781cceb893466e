using System.CommandLine;
using Deem.Training;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem plot --run DIR --out loss.png`: the loss curves of a training run (total λ-weighted loss and
/// each term of paper §2.3: NTP, NIP, CSR) from its <c>metrics.jsonl</c>, drawn with ScottPlot.
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
            string runDir = parse.GetValue(run)!, png = parse.GetValue(outPath)!;
            var metrics = MetricsLog.Read(Path.Combine(runDir, MetricsLog.FileName));
            Draw(metrics, png, parse.GetValue(width), parse.GetValue(height), Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDir))));
            AnsiConsole.MarkupLine($"{metrics.Count} steps → {Markup.Escape(png)}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Writes the curves of <paramref name="metrics"/> (total, NTP, NIP, CSR against step) to a PNG.</summary>
    public static void Draw(IReadOnlyList<StepMetrics> metrics, string png, int width, int height, string title)
    {
        if (metrics.Count == 0) throw new DeemFormatException(png, "no metrics to plot: the run has no finished step");
        var plot = new ScottPlot.Plot();
        double[] steps = metrics.Select(m => (double)m.Step).ToArray();
        foreach (var (name, select) in new (string, Func<StepMetrics, double>)[]
                 { ("total", m => m.Loss), ("NTP", m => m.Ntp), ("NIP", m => m.Nip), ("CSR", m => m.Csr) })
        {
            var line = plot.Add.Scatter(steps, metrics.Select(select).ToArray());
            line.LegendText = name;
            line.MarkerSize = metrics.Count > 50 ? 0 : 4;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.ShowLegend();
        string? dir = Path.GetDirectoryName(Path.GetFullPath(png));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        plot.SavePng(png, width, height);
    }
}
