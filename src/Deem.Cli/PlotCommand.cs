using System.CommandLine;
using Deem.Training;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem plot --run DIR --out loss.png`: the loss curves of a training run (total λ-weighted loss and
/// each term of paper §2.3: NTP, NIP, CSR) from its <c>metrics.jsonl</c>, drawn with ScottPlot; when the
/// run has an <c>eval.jsonl</c> (fixed-batch, fixed-noise evaluations), its curves go to <c>{out}-eval.png</c>.
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
            string title = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDir)));
            Draw(metrics, png, parse.GetValue(width), parse.GetValue(height), title);
            AnsiConsole.MarkupLine($"{metrics.Count} steps → {Markup.Escape(png)}");
            string evalPath = Path.Combine(runDir, EvalLog.FileName);
            if (File.Exists(evalPath))
            {
                var evals = EvalLog.Read(evalPath);
                string evalPng = EvalPngFor(png);
                DrawEval(evals, evalPng, parse.GetValue(width), parse.GetValue(height), title + " — fixed-batch evaluation");
                AnsiConsole.MarkupLine($"{evals.Count} evaluations → {Markup.Escape(evalPng)}");
            }
            return 0;
        });
        return cmd;
    }

    /// <summary><c>loss.png</c> → <c>loss-eval.png</c>.</summary>
    public static string EvalPngFor(string png) =>
        Path.Combine(Path.GetDirectoryName(png) ?? "", Path.GetFileNameWithoutExtension(png) + "-eval" + Path.GetExtension(png));

    /// <summary>
    /// The evaluation curves: NTP on the left axis, NIP and CSR (an order of magnitude smaller) on the
    /// right one, so a fall of a few percent in either stays visible.
    /// </summary>
    public static void DrawEval(IReadOnlyList<EvalMetrics> evals, string png, int width, int height, string title)
    {
        if (evals.Count == 0) throw new DeemFormatException(png, "no evaluations to plot");
        var plot = new ScottPlot.Plot();
        double[] steps = evals.Select(e => (double)e.Step).ToArray();
        var ntp = plot.Add.Scatter(steps, evals.Select(e => e.Ntp).ToArray());
        ntp.LegendText = "NTP (left)";
        foreach (var (name, select) in new (string, Func<EvalMetrics, double>)[] { ("NIP (right)", e => e.Nip), ("CSR (right)", e => e.Csr) })
        {
            var line = plot.Add.Scatter(steps, evals.Select(select).ToArray());
            line.LegendText = name;
            line.Axes.YAxis = plot.Axes.Right;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.Axes.Left.Label.Text = "NTP";
        plot.Axes.Right.Label.Text = "NIP, CSR (ε-MSE)";
        plot.ShowLegend();
        Save(plot, png, width, height);
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
        Save(plot, png, width, height);
    }

    static void Save(ScottPlot.Plot plot, string png, int width, int height)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(png));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        plot.SavePng(png, width, height);
    }
}
