using System.Globalization;
using System.Text;
using Deem.Benchmarks;
using Deem.World.Benchmarks;

namespace Deem.World.Experiments;

/// <summary>One row of <see cref="AccuracyTable"/>: a report column of <see cref="ArmRun.Metrics"/> and its chance level.</summary>
/// <param name="Label">What the row measures.</param>
/// <param name="Column">The metric key (<see cref="BenchmarkSuiteResult.Columns"/>, <see cref="WorldBreakdown.Columns"/>, …).</param>
/// <param name="Chance">What a model that ignores the image scores ("50", "25", "0 nats").</param>
public sealed record AccuracyRow(string Label, string Column, string Chance);

/// <summary>
/// The demo's headline table: accuracy by benchmark and question kind, one column per arm (mean ± 95 %
/// CI over seeds, <see cref="Stats.Summarize"/>), beside the chance level of each row — balanced yes/no
/// questions 50 %, MMVP pairs 25 % (a random pick gets both questions of a pair right one time in four),
/// POPE's yes-ratio 50 % for an unbiased model, and an image gap of 0 nats for answers that ignore the image.
/// </summary>
public static class AccuracyTable
{
    /// <summary>The rows, top to bottom.</summary>
    public static readonly IReadOnlyList<AccuracyRow> Rows =
    [
        new("RobustVQA-ID, held-out in-distribution (%)", WorldBreakdown.InDistribution, "50"),
        new("RobustVQA-A, shifted (OOD) (%)", "RVQA-A", "50"),
        new("RobustVQA-R, renditions (OOD) (%)", "RVQA-R", "50"),
        new("RobustVQA-V, jitter (OOD) (%)", "RVQA-V", "50"),
        new("POPE random, accuracy (%)", "POPE-R", "50"),
        new("POPE popular, accuracy (%)", "POPE-P", "50"),
        new("POPE adversarial, accuracy (%)", "POPE-A", "50"),
        new("POPE yes-ratio (%, 50 = unbiased)", CsrExperimentReport.YesRatioColumn, "50"),
        new("MMVP pairs, all (%)", "MMVP", "25"),
        new("MMVP pairs, attributes CLIP's captions named (%)", WorldBreakdown.MmvpSeen, "25"),
        new("MMVP pairs, attributes CLIP never read (%)", WorldBreakdown.MmvpUnseen, "25"),
        new("image gap, SFT NTP (nats)", CsrExperimentReport.ImageGapColumn, "0"),
    ];

    /// <summary>The header: "benchmark", "chance", then one column per arm.</summary>
    public static IReadOnlyList<string> Header(IReadOnlyList<ExperimentArm> arms) =>
        ["benchmark", "chance", .. arms.Select(a => $"{a.Name} ({a.Runs.Count} seed{(a.Runs.Count == 1 ? "" : "s")})")];

    /// <summary>The cells, row by row (in <see cref="Header"/> order); "–" where a run lacks the metric.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> Cells(IReadOnlyList<ExperimentArm> arms) =>
        Rows.Select(row => (IReadOnlyList<string>)[row.Label, row.Chance, .. arms.Select(a => Cell(a, row.Column))]).ToList();

    /// <summary>Mean ± 95 % CI of the column over the arm's seeds (just the mean for one seed); "–" when any seed lacks it.</summary>
    public static string Cell(ExperimentArm arm, string column)
    {
        var values = arm.Runs.Select(r => r.Metrics.TryGetValue(column, out double v) ? v : double.NaN).ToList();
        if (values.Count == 0 || !values.All(double.IsFinite)) return "–";
        var summary = Stats.Summarize(values);
        return (Math.Round(summary.Mean, 2) == 0 ? summary with { Mean = 0 } : summary).Format();   // -0.00004 prints 0.00
    }

    /// <summary>The table in Markdown.</summary>
    public static string Markdown(IReadOnlyList<ExperimentArm> arms)
    {
        var header = Header(arms);
        var sb = new StringBuilder();
        sb.Append("| ").AppendJoin(" | ", header).Append(" |\n|").Append(string.Concat(header.Select(_ => "---|"))).Append('\n');
        foreach (var row in Cells(arms)) sb.Append("| ").AppendJoin(" | ", row).Append(" |\n");
        return sb.ToString();
    }

    /// <summary>How many seeds the arms ran, a sentence for the caption.</summary>
    public static string SeedsNote(IReadOnlyList<ExperimentArm> arms)
    {
        int min = arms.Count == 0 ? 0 : arms.Min(a => a.Runs.Count);
        return min >= 2
            ? string.Create(CultureInfo.InvariantCulture, $"Mean ± 95 % CI (Student t) over {min}+ seeds")
            : "One seed per arm: single values, no interval";
    }
}
