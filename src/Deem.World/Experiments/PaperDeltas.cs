namespace Deem.World.Experiments;

/// <summary>
/// What the paper reports for "with CSR − without" on one benchmark group, in percentage points, and where:
/// the group mean of the table's columns (RobustVQA: A/R/V; POPE: R/P/A), the with-CSR row minus the without.
/// </summary>
/// <param name="Source">Short name of the table or passage, as the report's legend spells it.</param>
/// <param name="RobustVqa">RobustVQA A/R/V mean difference.</param>
/// <param name="Pope">POPE R/P/A mean difference.</param>
/// <param name="Mmvp">MMVP difference; null where the table has no MMVP column.</param>
public sealed record PaperDelta(string Source, double RobustVqa, double Pope, double? Mmvp)
{
    /// <summary>The difference for a report group (<see cref="CsrExperimentReport.Groups"/>'s names); null when not reported.</summary>
    public double? For(string group) => group switch
    {
        "RobustVQA" => RobustVqa,
        "POPE" => Pope,
        "MMVP" => Mmvp,
        _ => null,
    };
}

/// <summary>
/// The paper's CSR deltas per architecture. They are not one number: the §4 text's average gains (+4.0 / +12.8 /
/// +6.5) equal Table 5's LLaVA rows to 0.1, while Table 1's DEEM − DEEM* after pre-training is twice as large and
/// Table 3's instruction fine-tuning with − without CSR is near zero. Computed from the tables' printed values:
/// <list type="bullet">
/// <item>Table 1, DEEM* 53.24 / 56.06 / 54.72, 50.55 / 52.00 / 51.93, 20.30 against DEEM 56.86 / 68.63 / 63.08,
/// 69.93 / 70.27 / 68.87, 28.74.</item>
/// <item>Table 3, SFT rows, 51.3 / 56.5 / 57.4, 85.4 / 78.8 / 76.2 against 53.5 / 57.6 / 58.1, 86.0 / 79.2 / 77.1
/// (no MMVP column).</item>
/// <item>Table 5, LLaVA 54.8 / 60.0 / 58.7, 55.5 / 53.3 / 54.6, 18.6 against 56.7 / 66.7 / 61.9, 67.9 / 68.7 / 65.4, 25.1.</item>
/// </list>
/// </summary>
public static class PaperDeltas
{
    public static readonly PaperDelta Text = new("text", 4.0, 12.8, 6.5);
    public static readonly PaperDelta Table1 = new("T1", 8.2, 18.2, 8.4);
    public static readonly PaperDelta Table3Sft = new("T3 SFT", 1.3, 0.6, null);
    public static readonly PaperDelta Table5Llava = new("T5", 3.9, 12.9, 6.5);

    /// <summary>The legend the report prints under its difference table.</summary>
    public const string Legend =
        "Paper: text = §4's average gains over a baseline trained in the same setting; T1 = Table 1, DEEM − DEEM* after " +
        "pre-training; T3 SFT = Table 3, instruction fine-tuning with − without CSR (no MMVP column); T5 = Table 5, " +
        "LLaVA with − without CSR. Each is the difference of the group's column means.";

    /// <summary>The deltas that compare with an arm of architecture <paramref name="arch"/> ("deem" or "llava").</summary>
    public static IReadOnlyList<PaperDelta> For(string arch) => arch == "llava" ? [Table5Llava] : [Text, Table1, Table3Sft];

    /// <summary>One report cell, e.g. "+4.0 (text) · +8.2 (T1) · +1.3 (T3 SFT)"; "–" when none reports the group.</summary>
    public static string Cell(string arch, string group)
    {
        var parts = For(arch).Where(d => d.For(group) is not null)
            .Select(d => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{d.For(group)!.Value:+0.0;-0.0} ({d.Source})")).ToList();
        return parts.Count == 0 ? "–" : string.Join(" · ", parts);
    }
}
