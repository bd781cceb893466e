using Deem.IO;
using Deem.Training;

namespace Deem.Plotting;

/// <summary>
/// The curves of a training run, drawn with ScottPlot: the loss terms of paper §2.3 (total λ-weighted
/// loss, NTP, NIP, CSR) per step from its <c>metrics.jsonl</c>, and the fixed-batch, fixed-noise
/// evaluations of its <c>eval.jsonl</c>. Every PNG is written atomically.
/// </summary>
public static class RunPlots
{
    /// <summary>The files one <see cref="Draw(string, string, int, int)"/> call wrote and how many points each holds.</summary>
    /// <param name="LossPng">The loss curves.</param>
    /// <param name="Steps">Steps in the loss curves.</param>
    /// <param name="EvalPng">The evaluation curves, null when the run has no <c>eval.jsonl</c>.</param>
    /// <param name="Evaluations">Evaluations in those curves (0 without).</param>
    public sealed record Written(string LossPng, int Steps, string? EvalPng, int Evaluations);

    /// <summary>
    /// Draws the loss curves of the run folder <paramref name="runDir"/> to <paramref name="png"/> and,
    /// when the run has an <c>eval.jsonl</c>, its evaluation curves to <see cref="EvalPngFor"/>.
    /// </summary>
    public static Written Draw(string runDir, string png, int width, int height)
    {
        var metrics = MetricsLog.Read(Path.Combine(runDir, MetricsLog.FileName));
        string title = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDir)));
        DrawLoss(metrics, png, width, height, title);
        string evalPath = Path.Combine(runDir, EvalLog.FileName);
        if (!File.Exists(evalPath)) return new Written(png, metrics.Count, null, 0);
        var evals = EvalLog.Read(evalPath);
        string evalPng = EvalPngFor(png);
        DrawEval(evals, evalPng, width, height, title + " — fixed-batch evaluation");
        return new Written(png, metrics.Count, evalPng, evals.Count);
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
    public static void DrawLoss(IReadOnlyList<StepMetrics> metrics, string png, int width, int height, string title)
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

    static void Save(ScottPlot.Plot plot, string png, int width, int height) =>
        AtomicFile.WriteAllBytes(png, plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png));
}
