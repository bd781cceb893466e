using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Deem.IO;

namespace Deem.Benchmarks;

/// <summary>Where the three benchmarks' files are; a benchmark whose paths are null is not run.</summary>
/// <param name="RobustVqaJson"><c>robustvqa_test.json</c>.</param>
/// <param name="RobustVqaImageRoot">The folder its <c>file_name</c>s are relative to.</param>
/// <param name="PopeDir">The folder with <c>coco_pope_{random,popular,adversarial}.json</c>.</param>
/// <param name="PopeImageDir">The flat image folder (COCO val2014 style).</param>
/// <param name="MmvpDir">The folder with <c>Questions.csv</c> and <c>MMVP Images/</c>.</param>
public sealed record BenchmarkPaths(string? RobustVqaJson = null, string? RobustVqaImageRoot = null,
    string? PopeDir = null, string? PopeImageDir = null, string? MmvpDir = null);

/// <summary>
/// The results of one <see cref="BenchmarkSuite"/> run, with the paper's Table 1 columns (RVQA-A/R/V,
/// POPE-R/P/A with DEEM's accuracy, MMVP pair accuracy, AVG over the seven) and Markdown rendering.
/// </summary>
public sealed record BenchmarkSuiteResult(RobustVqaRunResult? RobustVqa, PopeRunResult? Pope, MmvpRunResult? Mmvp)
{
    /// <summary>The paper's Table 1 column names, in order.</summary>
    public static readonly IReadOnlyList<string> Columns = ["RVQA-A", "RVQA-R", "RVQA-V", "POPE-R", "POPE-P", "POPE-A", "MMVP", "AVG"];

    /// <summary>Column → value in percent, for the benchmarks that ran; "AVG" only when all seven did.</summary>
    public IReadOnlyDictionary<string, double> Metrics
    {
        get
        {
            var m = new Dictionary<string, double>(StringComparer.Ordinal);
            void Put(string key, double v) { if (!double.IsNaN(v)) m[key] = v; }
            if (RobustVqa is { } r) { Put("RVQA-A", r.A); Put("RVQA-R", r.R); Put("RVQA-V", r.V); }
            if (Pope is { } p)
            {
                if (p["random"] is { } pr) m["POPE-R"] = pr.DeemAccuracy;
                if (p["popular"] is { } pp) m["POPE-P"] = pp.DeemAccuracy;
                if (p["adversarial"] is { } pa) m["POPE-A"] = pa.DeemAccuracy;
            }
            if (Mmvp is { } v) m["MMVP"] = v.Scores.PairAccuracy;
            var seven = Columns.Take(7).ToList();
            if (seven.All(m.ContainsKey)) m["AVG"] = seven.Average(c => m[c]);
            return m;
        }
    }

    /// <summary>
    /// A Markdown table: one Table-1 row, then RobustVQA's accuracy per split when the file has splits beyond A/R/V
    /// (the world's held-out in-distribution <c>imagenet_id</c>), then POPE's official metrics per split when POPE ran.
    /// </summary>
    public string ToMarkdown(string model = "model")
    {
        var sb = new StringBuilder(MarkdownTable([(model, this)]));
        if (RobustVqa is { } r && r.Scores.PerSplit.Keys.Except(Deem.Benchmarks.RobustVqa.Splits).Any())
        {
            sb.Append('\n').Append("| RobustVQA split | accuracy | acc 95 % (Wilson) |\n|---|---|---|\n");
            foreach (var (split, accuracy) in r.Scores.PerSplit.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                string interval = r.Scores.Interval(split) is { } ci
                    ? string.Create(CultureInfo.InvariantCulture, $"{ci.Lower:F2}–{ci.Upper:F2}") : "–";
                sb.Append(CultureInfo.InvariantCulture, $"| {split} | {accuracy:F2} | {interval} |\n");
            }
        }
        if (Pope is { } p)
        {
            sb.Append('\n').Append("| POPE split | questions | acc (DEEM) | acc | acc 95 % (Wilson) | precision | recall | F1 | yes-ratio |\n");
            sb.Append("|---|---|---|---|---|---|---|---|---|\n");
            foreach (var s in p.Splits)
            {
                var (lo, hi) = s.AccuracyInterval;
                sb.Append(CultureInfo.InvariantCulture, $"| {s.Split} | {s.Questions} | {s.DeemAccuracy:F2} | {100 * s.Official.Accuracy:F2} | {lo:F2}–{hi:F2} | {100 * s.Official.Precision:F2} | {100 * s.Official.Recall:F2} | {100 * s.Official.F1:F2} | {100 * s.Official.YesRatio:F2} |\n");
            }
        }
        if (Mmvp is { } v)
        {
            var (lo, hi) = v.Scores.PairAccuracyInterval;
            sb.Append('\n').Append(CultureInfo.InvariantCulture,
                $"MMVP: {v.Scores.PairsCorrect} of {v.Scores.Pairs} pairs, {v.Scores.PairAccuracy:F2} % (95 %, Wilson: {lo:F2}–{hi:F2}; a blind guesser: 25).\n");
        }
        return sb.ToString();
    }

    /// <summary>One Table-1 row per model (columns that no row has are left out; missing cells are "–").</summary>
    public static string MarkdownTable(IReadOnlyList<(string Model, BenchmarkSuiteResult Result)> rows) =>
        Table(rows.Select(r => (r.Model, r.Result.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value.ToString("F2", CultureInfo.InvariantCulture)))).ToList());

    /// <summary>One row per model of "mean ± 95 % half-width" over its seeds (<see cref="Stats.Summarize"/>).</summary>
    public static string MarkdownSeedTable(IReadOnlyList<(string Model, IReadOnlyList<BenchmarkSuiteResult> Seeds)> rows) =>
        Table(rows.Select(r =>
        {
            var cells = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string c in Columns)
            {
                var values = r.Seeds.Select(s => s.Metrics.TryGetValue(c, out double v) ? v : double.NaN).ToList();
                if (values.Count > 0 && values.All(double.IsFinite)) cells[c] = Stats.Summarize(values).Format();
            }
            return (r.Model, cells);
        }).ToList());

    static string Table(IReadOnlyList<(string Model, Dictionary<string, string> Cells)> rows)
    {
        var cols = Columns.Where(c => rows.Any(r => r.Cells.ContainsKey(c))).ToList();
        var sb = new StringBuilder();
        sb.Append("| model | ").AppendJoin(" | ", cols).Append(" |\n");
        sb.Append("|---|").Append(string.Concat(cols.Select(_ => "---|"))).Append('\n');
        foreach (var (model, cells) in rows)
            sb.Append("| ").Append(model).Append(" | ").AppendJoin(" | ", cols.Select(c => cells.GetValueOrDefault(c, "–"))).Append(" |\n");
        return sb.ToString();
    }
}

/// <summary>
/// Runs RobustVQA, POPE and MMVP (paper §4, Table 1; reference §6) with one model into one output
/// folder, each resumable, and writes <c>suite_scores.json</c> (the Table-1 columns) and
/// <c>suite.md</c> (the Markdown table).
/// </summary>
public static class BenchmarkSuite
{
    public const string ScoresFileName = "suite_scores.json";
    public const string MarkdownFileName = "suite.md";

    /// <summary>
    /// Throws <see cref="DeemConfigException"/> when <paramref name="paths"/> name no benchmark, or POPE's
    /// questions without its images (before any model runs).
    /// </summary>
    public static void Check(BenchmarkPaths paths)
    {
        if (paths.RobustVqaJson is null && paths.PopeDir is null && paths.MmvpDir is null)
            throw new DeemConfigException("benchmarks", "--robustvqa/--pope/--mmvp", "no benchmark given (or --bench with a `deem eval build` folder)");
        if (paths.PopeDir is not null && paths.PopeImageDir is null)
            throw new DeemConfigException("benchmarks", "--pope-images", "POPE's questions need its image folder");
    }

    public static BenchmarkSuiteResult Run(IVqaModel model, BenchmarkPaths paths, string outDir, EvalOptions? options = null, string modelName = "model")
    {
        Check(paths);
        RobustVqaRunResult? robust = null;
        if (paths.RobustVqaJson is not null)
            robust = RobustVqaRunner.Run(model, paths.RobustVqaJson,
                paths.RobustVqaImageRoot ?? Path.GetDirectoryName(Path.GetFullPath(paths.RobustVqaJson))!, outDir, options);
        PopeRunResult? pope = null;
        if (paths.PopeDir is not null)
            pope = PopeRunner.Run(model, paths.PopeDir,
                paths.PopeImageDir!, outDir, options);
        MmvpRunResult? mmvp = paths.MmvpDir is null ? null : MmvpRunner.Run(model, paths.MmvpDir, outDir, options);

        var result = new BenchmarkSuiteResult(robust, pope, mmvp);
        var json = new JsonObject { ["model"] = modelName };
        foreach (var (k, v) in result.Metrics) json[k] = v;
        json["unit"] = "percent";
        ScoresFile.Write(Path.Combine(outDir, ScoresFileName), json);
        AtomicFile.WriteAllText(Path.Combine(outDir, MarkdownFileName), result.ToMarkdown(modelName));
        return result;
    }
}
