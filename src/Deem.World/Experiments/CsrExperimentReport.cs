using Deem.Benchmarks;
using System.Globalization;
using System.Text;
using Deem.IO;

namespace Deem.World.Experiments;

/// <summary>One trained-and-evaluated run of an experiment arm.</summary>
/// <param name="Seed">The run's seed.</param>
/// <param name="Metrics">Table-1 column → percent (see <see cref="BenchmarkSuiteResult.Columns"/>).</param>
/// <param name="SecondsPerStep">Median optimiser-step time of its training, in seconds.</param>
/// <param name="TrainSeconds">Wall time of the run's training, in seconds.</param>
/// <param name="Threads">torch's intra-op threads while it trained (null in run records written before they were kept).</param>
/// <param name="Concurrent">How many runs trained at once on the machine, its own included (null: not recorded).</param>
public sealed record ArmRun(int Seed, IReadOnlyDictionary<string, double> Metrics, double SecondsPerStep, double TrainSeconds,
    int? Threads = null, int? Concurrent = null)
{
    /// <summary>"T thr × C" (threads, runs at once), "–" where not recorded.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Layout => Threads is int t && Concurrent is int c ? $"{t} thr × {c}" : "–";
}

/// <summary>An arm of the CSR ablation: e.g. "baseline" (DEEM*, no CSR) or "DEEM" (CSR).</summary>
public sealed record ExperimentArm(string Name, string Arch, bool Csr, IReadOnlyList<ArmRun> Runs);

/// <summary>
/// The report of `deem experiment csr`, shaped like the paper's Tables 1 and 3: per-benchmark
/// accuracy (mean ± 95 % CI over seeds) for each arm, the difference "with CSR − without" with its
/// Welch 95 % CI, training seconds per step and their ratio, and the paper's deltas beside ours.
/// Whatever the numbers are, they are reported as measured.
/// </summary>
public static class CsrExperimentReport
{
    /// <summary>Extra per-run column: the POPE yes-ratio in percent (50 on balanced data = unbiased).</summary>
    public const string YesRatioColumn = "POPE yes %";

    /// <summary>
    /// Extra per-run column: NTP with the SFT batches' images rolled by one minus NTP with their own
    /// images, in nats, on fixed batches of the SFT data (another shuffle) after stage 2
    /// (<see cref="Deem.Training.EvalSet"/>).
    /// 0 = the answers do not depend on the image at all.
    /// </summary>
    public const string ImageGapColumn = "image gap (nats)";

    /// <summary>Benchmark groups compared with the paper's deltas (<see cref="PaperDeltas"/>).</summary>
    public static readonly (string Name, string[] Columns)[] Groups =
    [
        ("RobustVQA", ["RVQA-A", "RVQA-R", "RVQA-V"]),
        ("POPE", ["POPE-R", "POPE-P", "POPE-A"]),
        ("MMVP", ["MMVP"]),
    ];

    /// <summary>The group average of one run (NaN if a column is missing).</summary>
    public static double GroupValue(ArmRun run, string[] columns) =>
        columns.All(run.Metrics.ContainsKey) ? columns.Average(c => run.Metrics[c]) : double.NaN;

    static string F(double v)
    {
        if (!double.IsFinite(v)) return "–";
        double r = Math.Round(v, 2);
        return (r == 0 ? 0.0 : r).ToString("F2", CultureInfo.InvariantCulture);   // -0.00004 prints 0.00, not -0.00
    }

    public static string Markdown(IReadOnlyList<ExperimentArm> arms, IReadOnlyList<(string With, string Without)> comparisons, string setup)
    {
        var sb = new StringBuilder();
        sb.Append("# CSR ablation on the built-in world\n\n").Append(setup.Trim()).Append("\n\n");

        sb.Append("## Accuracy (%), mean ± 95 % CI over seeds (paper Table 1 columns)\n\n");
        var cols = BenchmarkSuiteResult.Columns;
        sb.Append("| arm | seeds | ").AppendJoin(" | ", cols).Append(" |\n|---|---|").Append(string.Concat(cols.Select(_ => "---|"))).Append('\n');
        foreach (var arm in arms)
        {
            sb.Append("| ").Append(arm.Name).Append(" | ").Append(arm.Runs.Count).Append(" | ");
            sb.AppendJoin(" | ", cols.Select(c =>
            {
                var v = arm.Runs.Select(r => r.Metrics.TryGetValue(c, out var x) ? x : double.NaN).ToList();
                return v.Count > 0 && v.All(double.IsFinite) ? Stats.Summarize(v).Format() : "–";
            }));
            sb.Append(" |\n");
        }

        var extra = Deem.World.Benchmarks.WorldBreakdown.Columns;
        if (arms.Any(a => a.Runs.Any(r => extra.Any(r.Metrics.ContainsKey))))
        {
            sb.Append("\n## In-distribution vs shifted, by what the CLIP captions named, and by object size (%), mean ± 95 % CI over seeds\n\n");
            sb.Append("RVQA-ID: main-object questions on held-out in-distribution images; RVQA-OOD: the mean of A, R and V. ")
              .Append("MMVP seen / unseen: pair accuracy on pairs asking about an attribute the stage-0 CLIP's captions named ")
              .Append("(colour, shape) or never named (orientation, count, position). POPE recall small / large: the share of ")
              .Append("POPE-R's present objects answered \"yes\", for objects whose box's longer side is at most a fifth of the image's ")
              .Append("and for the others (a model that always says \"yes\" gets 100; read it beside the yes-ratio). ")
              .Append("Chance: 50 (RobustVQA), 25 (MMVP pairs).\n\n");
            sb.Append("| arm | ").AppendJoin(" | ", extra).Append(" |\n|---|").Append(string.Concat(extra.Select(_ => "---|"))).Append('\n');
            foreach (var arm in arms)
                sb.Append("| ").Append(arm.Name).Append(" | ").AppendJoin(" | ", extra.Select(c =>
                {
                    var v = arm.Runs.Select(r => r.Metrics.TryGetValue(c, out var x) ? x : double.NaN).ToList();
                    return v.Count > 0 && v.All(double.IsFinite) ? Stats.Summarize(v).Format() : "–";
                })).Append(" |\n");
        }

        var seedCols = cols.Append(YesRatioColumn).Append(ImageGapColumn).ToList();
        sb.Append("\n## Per seed\n\n| arm | seed | ").AppendJoin(" | ", seedCols).Append(" | s/step | threads × runs at once |\n|---|---|")
          .Append(string.Concat(seedCols.Select(_ => "---|"))).Append("---|---|\n");
        foreach (var arm in arms)
            foreach (var r in arm.Runs)
                sb.Append("| ").Append(arm.Name).Append(" | ").Append(r.Seed).Append(" | ")
                  .AppendJoin(" | ", seedCols.Select(c => r.Metrics.TryGetValue(c, out var x) ? F(x) : "–"))
                  .Append(" | ").Append(double.IsFinite(r.SecondsPerStep) ? r.SecondsPerStep.ToString("F3", CultureInfo.InvariantCulture) : "–")
                  .Append(" | ").Append(r.Layout).Append(" |\n");

        var rows = new StringBuilder();
        foreach (var (with, without) in comparisons)
        {
            var a = arms.FirstOrDefault(x => x.Name == with);
            var b = arms.FirstOrDefault(x => x.Name == without);
            if (a is null || b is null) continue;
            foreach (var (name, columns) in Groups)
            {
                string paper = PaperDeltas.Cell(a.Arch, name);
                var va = a.Runs.Select(r => GroupValue(r, columns)).ToList();
                var vb = b.Runs.Select(r => GroupValue(r, columns)).ToList();
                if (!va.All(double.IsFinite) || !vb.All(double.IsFinite) || va.Count == 0 || vb.Count == 0) continue;
                if (va.Count < 2 || vb.Count < 2)
                {
                    var diff = va.Average() - vb.Average();
                    rows.Append(CultureInfo.InvariantCulture, $"| {with} − {without} | {name} | {(diff >= 0 ? "+" : "")}{F(diff)} | (needs ≥ 2 seeds) | – | {paper} |\n");
                    continue;
                }
                var d = Stats.WelchDifference(va, vb);
                rows.Append(CultureInfo.InvariantCulture,
                    $"| {with} − {without} | {name} | {(d.Difference >= 0 ? "+" : "")}{F(d.Difference)} | [{F(d.Lower)}, {F(d.Upper)}] | {(d.Significant ? "yes" : "no")} | {paper} |\n");
            }
        }
        sb.Append("\n## Difference with CSR − without (percentage points), Welch 95 % CI\n\n");
        if (rows.Length == 0)
            sb.Append("No pair of arms with and without CSR in this report.\n");
        else
            sb.Append("| comparison | benchmark | ours | 95 % CI | significant | paper |\n|---|---|---|---|---|---|\n")
              .Append(rows).Append('\n').Append(PaperDeltas.Legend).Append('\n');

        // Runs read back from their folders (RunFolders) carry no step times: no cost section for them.
        if (!arms.SelectMany(a => a.Runs).Any(r => double.IsFinite(r.SecondsPerStep))) return sb.ToString();
        sb.Append("\n## Training cost (paper Table 3)\n\n| arm | median s/step (mean over seeds) | train s (mean) |\n|---|---|---|\n");
        foreach (var arm in arms)
            sb.Append(CultureInfo.InvariantCulture,
                $"| {arm.Name} | {arm.Runs.Average(r => r.SecondsPerStep):F3} | {arm.Runs.Average(r => r.TrainSeconds):F1} |\n");
        foreach (var (with, without) in comparisons)
        {
            var a = arms.FirstOrDefault(x => x.Name == with);
            var b = arms.FirstOrDefault(x => x.Name == without);
            if (a is null || b is null) continue;
            // Step times compare only between runs that trained in the same layout (threads, runs sharing the cores).
            var layouts = a.Runs.Concat(b.Runs).Select(r => r.Layout).Distinct().ToList();
            if (layouts.Count != 1 || layouts[0] == "–")
            {
                sb.Append(CultureInfo.InvariantCulture, $"\nStage-1 step-time ratio {with} / {without}: not comparable, the runs trained in " +
                    $"different or unrecorded layouts (threads × runs at once: {string.Join(", ", layouts)}); `deem bench train-step` measures it.\n");
                continue;
            }
            double ratio = a.Runs.Average(r => r.SecondsPerStep) / b.Runs.Average(r => r.SecondsPerStep);
            string paper = a.Arch == "deem" ? " (paper Table 3: 1.14× for stage 1)" : " (the arm without CSR runs no diffusion model at all here)";
            sb.Append(CultureInfo.InvariantCulture, $"\nStage-1 step-time ratio {with} / {without}: **{ratio:F2}×**{paper}, every run at {layouts[0]}.\n");
        }
        return sb.ToString();
    }

    /// <summary>A bar chart of the group accuracies per arm with 95 % CI whiskers, as PNG bytes.</summary>
    public static byte[] ChartPng(IReadOnlyList<ExperimentArm> arms, int width = 900, int height = 500)
    {
        var plt = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var ticks = new List<ScottPlot.Tick>();
        double groupWidth = arms.Count + 1;
        for (int g = 0; g < Groups.Length; g++)
        {
            ticks.Add(new ScottPlot.Tick(g * groupWidth + (arms.Count - 1) / 2.0, Groups[g].Name));
            for (int a = 0; a < arms.Count; a++)
            {
                var values = arms[a].Runs.Select(r => GroupValue(r, Groups[g].Columns)).Where(double.IsFinite).ToList();
                if (values.Count == 0) continue;
                var s = Stats.Summarize(values);
                plt.Add.Bar(new ScottPlot.Bar
                {
                    Position = g * groupWidth + a,
                    Value = s.Mean,
                    Error = double.IsFinite(s.HalfWidth) ? s.HalfWidth : 0,
                    FillColor = palette.GetColor(a),
                });
            }
        }
        for (int a = 0; a < arms.Count; a++)
            plt.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = arms[a].Name, FillColor = palette.GetColor(a) });
        plt.Legend.IsVisible = true;
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plt.Axes.Margins(bottom: 0);
        plt.YLabel("accuracy (%), mean ± 95 % CI over seeds");
        plt.Title("CSR ablation on the built-in world");
        return plt.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
    }

    /// <summary>Writes <c>report.md</c>, <c>report.png</c> and <c>report.json</c> atomically.</summary>
    public static void Write(string outDir, IReadOnlyList<ExperimentArm> arms, IReadOnlyList<(string With, string Without)> comparisons, string setup)
    {
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), Markdown(arms, comparisons, setup));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "report.png"), ChartPng(arms));
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.json"),
            System.Text.Json.JsonSerializer.Serialize(arms, new System.Text.Json.JsonSerializerOptions
            {
                WriteIndented = true,
                NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,   // "NaN": runs read back carry no step times
            }));
    }
}
