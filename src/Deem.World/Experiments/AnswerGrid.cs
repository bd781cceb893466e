using System.Text;
using System.Text.Json.Nodes;
using Deem.Benchmarks;
using Deem.Plotting;
using Deem.World.Benchmarks;
using SkiaSharp;

namespace Deem.World.Experiments;

/// <summary>One answered benchmark question of a run, as its predictions file holds it.</summary>
/// <param name="Group">The report column it counts toward: "RVQA-ID", "RVQA-A", "POPE-R", "MMVP seen", ….</param>
/// <param name="Split">The split, as the picture names it (e.g. "RobustVQA-A (OOD)").</param>
/// <param name="Unit">Rows with the same unit are shown together (the two questions of an MMVP pair).</param>
/// <param name="ImagePath">The image the model was asked about.</param>
/// <param name="Question">The question (without the fixed "Please anwser yes or no").</param>
/// <param name="Answer">The model's answer as generated.</param>
/// <param name="Truth">The ground truth ("yes"/"no", or the right option "(a)").</param>
/// <param name="Correct">The evaluation's verdict (the authors' extractor / option parser).</param>
public sealed record AnswerRow(string Group, string Split, int Unit, string ImagePath, string Question, string Answer, string Truth, bool Correct);

/// <summary>
/// A picture of what a trained model answers on held-out test images: rows read back from a run's
/// <c>eval/*_predictions.jsonl</c> (RobustVQA in-distribution and its shifted A/R/V splits, POPE,
/// MMVP pairs), a fixed number picked per group — evenly spaced through the file, never by whether
/// they are right — and drawn as tiles with the question, the answer and the truth, framed green when
/// right and red when wrong (<see cref="ImageGrid"/>).
/// </summary>
public static class AnswerGrid
{
    /// <summary>Tiles per group of the default 4 × 4 picture, in reading order.</summary>
    public static readonly IReadOnlyList<(string Group, int Tiles)> DefaultQuota =
    [
        (WorldBreakdown.InDistribution, 2), ("RVQA-A", 2), ("RVQA-R", 2), ("RVQA-V", 2),
        ("POPE-R", 2), ("POPE-A", 2), (WorldBreakdown.MmvpSeen, 2), (WorldBreakdown.MmvpUnseen, 2),
    ];

    static readonly SKColor Right = new(0, 140, 60), Wrong = new(205, 30, 30), Ink = new(30, 30, 30), Muted = new(100, 100, 100);
    const string YesNoSuffix = " Please anwser yes or no";

    static readonly Dictionary<string, (string Group, string Name)> RobustSplits = new(StringComparer.Ordinal)
    {
        [WorldWriter.InDistributionFolder] = (WorldBreakdown.InDistribution, "RobustVQA-ID (held out)"),
        ["imagenet_a"] = ("RVQA-A", "RobustVQA-A (OOD)"),
        ["imagenet_r"] = ("RVQA-R", "RobustVQA-R (OOD)"),
        ["imagenet_v2"] = ("RVQA-V", "RobustVQA-V (OOD)"),
    };

    static readonly (string Split, string Group)[] PopeSplits = [("random", "POPE-R"), ("popular", "POPE-P"), ("adversarial", "POPE-A")];

    /// <summary>
    /// The answered questions of the evaluation folder <paramref name="evalDir"/> (a run's <c>eval</c>)
    /// whose benchmarks <paramref name="paths"/> names; a benchmark without a predictions file gives no rows.
    /// </summary>
    public static IReadOnlyList<AnswerRow> Collect(string evalDir, BenchmarkPaths paths)
    {
        var rows = new List<AnswerRow>();
        string robust = Path.Combine(evalDir, RobustVqaRunner.PredictionsFile);
        if (paths.RobustVqaJson is not null && File.Exists(robust))
        {
            string root = paths.RobustVqaImageRoot ?? Path.GetDirectoryName(Path.GetFullPath(paths.RobustVqaJson))!;
            foreach (var r in PredictionLog.ReadAll(robust))
            {
                string split = Text(r, "id", robust).Split('/')[0];
                var (group, name) = RobustSplits.TryGetValue(split, out var g) ? g : ("RVQA " + split, "RobustVQA " + split);
                rows.Add(Row(r, robust, group, name, rows.Count, root));
            }
        }
        if (paths.PopeDir is not null && paths.PopeImageDir is not null)
            foreach (var (split, group) in PopeSplits)
            {
                string file = Path.Combine(evalDir, PopeRunner.PredictionsFile(split));
                if (!File.Exists(file)) continue;
                foreach (var r in PredictionLog.ReadAll(file)) rows.Add(Row(r, file, group, "POPE " + split, rows.Count, paths.PopeImageDir));
            }
        string mmvp = Path.Combine(evalDir, MmvpRunner.PredictionsFile);
        if (paths.MmvpDir is { } mmvpDir && File.Exists(mmvp) && File.Exists(Path.Combine(mmvpDir, WorldMmvp.PairsFile)))
        {
            var byId = PredictionLog.ReadAll(mmvp).ToDictionary(r => Text(r, "id", mmvp), StringComparer.Ordinal);
            foreach (var line in File.ReadLines(Path.Combine(mmvpDir, WorldMmvp.PairsFile)))
            {
                if (string.IsNullOrWhiteSpace(line) || JsonNode.Parse(line) is not JsonObject p || p["clip_seen"] is not JsonValue s) continue;
                bool seen = s.GetValue<bool>();
                string attribute = p["attribute"]?.ToString() ?? "?";
                string name = $"MMVP {attribute} ({(seen ? "CLIP saw it" : "unseen by CLIP")})";
                int unit = rows.Count;
                foreach (var id in p["indices"]!.AsArray().Select(x => x!.ToString()))
                    if (byId.TryGetValue(id, out var r))
                        rows.Add(Row(r, mmvp, seen ? WorldBreakdown.MmvpSeen : WorldBreakdown.MmvpUnseen, name, unit, mmvpDir));
            }
        }
        return rows;
    }

    static AnswerRow Row(JsonObject r, string file, string group, string split, int unit, string imageRoot)
    {
        string question = Text(r, "prompt", file);
        if (question.EndsWith(YesNoSuffix, StringComparison.Ordinal)) question = question[..^YesNoSuffix.Length];
        return new AnswerRow(group, split, unit, Path.Combine(imageRoot, Text(r, "image", file)), question,
            Text(r, "answer", file).Trim(), Text(r, "label", file), r["correct"] is JsonValue c && c.GetValue<bool>());
    }

    static string Text(JsonObject r, string key, string file) =>
        r[key]?.ToString() ?? throw new DeemFormatException(file, $"a record has no '{key}'.", key);

    /// <summary>
    /// Per group of <paramref name="quota"/> (default <see cref="DefaultQuota"/>), up to its number of rows,
    /// whole units evenly spaced through the group's rows, skipping a question already shown on the same
    /// image and, after a group's first pick, preferring the next unit whose truth differs from the previous
    /// pick's; in quota order.
    /// </summary>
    public static IReadOnlyList<AnswerRow> Pick(IReadOnlyList<AnswerRow> rows, IReadOnlyList<(string Group, int Tiles)>? quota = null)
    {
        var picked = new List<AnswerRow>();
        var shown = new HashSet<(string, string)>();
        foreach (var (group, tiles) in quota ?? DefaultQuota)
        {
            var units = rows.Where(r => r.Group == group).GroupBy(r => r.Unit).Select(u => u.ToList()).ToList();
            if (units.Count == 0 || tiles <= 0) continue;
            int perUnit = Math.Max(1, units.Max(u => u.Count)), want = Math.Min(units.Count, Math.Max(1, tiles / perUnit));
            var taken = new HashSet<int>();
            string? lastTruth = null;
            for (int k = 0; k < want; k++)
            {
                // The evenly spaced unit, or the next one not shown yet (POPE's splits share their "yes" questions);
                // after the first, the next whose truth differs from the previous pick's when there is one, so a
                // group's tiles show both answers (a model that always says "no" is then visibly wrong).
                int at = (int)((k + 0.5) * units.Count / want);
                var order = Enumerable.Range(0, units.Count).Select(d => (at + d) % units.Count)
                    .Where(j => !taken.Contains(j) && !units[j].Any(r => shown.Contains((r.ImagePath, r.Question)))).ToList();
                if (order.Count == 0) break;
                int i = order.FirstOrDefault(j => lastTruth is null || units[j][0].Truth != lastTruth, order[0]);
                lastTruth = units[i][0].Truth;
                taken.Add(i);
                picked.AddRange(units[i]);
                foreach (var r in units[i]) shown.Add((r.ImagePath, r.Question));
            }
        }
        return picked;
    }

    /// <summary>The tile of one row: split, question, the model's answer (green/red), the truth.</summary>
    public static GridTile Tile(AnswerRow r)
    {
        var mark = r.Correct ? Right : Wrong;
        return new GridTile(r.ImagePath,
        [
            new GridLine(r.Split, Ink, Bold: true),
            new GridLine("Q: " + r.Question, Ink),
            new GridLine("model: " + (r.Answer.Length == 0 ? "(nothing)" : r.Answer) + (r.Correct ? " (right)" : " (wrong)"), mark, Bold: true),
            new GridLine("truth: " + r.Truth, Muted),
        ], mark);
    }

    /// <summary>Draws <paramref name="rows"/> as tiles (4 per row) and writes the PNG atomically.</summary>
    public static void Write(string png, IReadOnlyList<AnswerRow> rows, ImageGridOptions? options = null) =>
        ImageGrid.Write(png, rows.Select(Tile).ToList(), options);

    /// <summary>The rows as a Markdown table (the picture's text).</summary>
    public static string Markdown(IReadOnlyList<AnswerRow> rows)
    {
        static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ");
        var sb = new StringBuilder("| split | question | model | truth | right |\n|---|---|---|---|---|\n");
        foreach (var r in rows)
            sb.Append("| ").Append(Cell(r.Split)).Append(" | ").Append(Cell(r.Question)).Append(" | ").Append(Cell(r.Answer))
              .Append(" | ").Append(Cell(r.Truth)).Append(" | ").Append(r.Correct ? "yes" : "no").Append(" |\n");
        return sb.ToString();
    }
}
