using System.Text.Json.Nodes;
using Deem.Benchmarks;
using Deem.World;

namespace Deem.World.Benchmarks;

/// <summary>
/// The world-specific columns beside the paper's: RobustVQA's main-object accuracy on held-out
/// in-distribution images against the mean of the three shifted splits, and MMVP's pair accuracy
/// split by whether the stage-0 CLIP's captions named the attribute the pair asks about
/// (<see cref="CaptionFamilies"/>).
/// </summary>
public static class WorldBreakdown
{
    public const string InDistribution = "RVQA-ID", Ood = "RVQA-OOD", MmvpSeen = "MMVP seen", MmvpUnseen = "MMVP unseen";

    /// <summary>The extra columns, in order.</summary>
    public static readonly IReadOnlyList<string> Columns = [InDistribution, Ood, MmvpSeen, MmvpUnseen];

    /// <summary>The columns a suite result gives (those whose inputs exist), in percent.</summary>
    public static IReadOnlyDictionary<string, double> Metrics(BenchmarkSuiteResult suite, BenchmarkPaths paths)
    {
        var m = new Dictionary<string, double>(StringComparer.Ordinal);
        if (suite.RobustVqa is { } r)
        {
            if (r.Scores.PerSplit.TryGetValue(WorldWriter.InDistributionFolder, out double id)) m[InDistribution] = id;
            double[] ood = [r.A, r.R, r.V];
            if (ood.All(double.IsFinite)) m[Ood] = ood.Average();
        }
        if (suite.Mmvp is { } v && paths.MmvpDir is { } dir && File.Exists(Path.Combine(dir, WorldMmvp.PairsFile)))
        {
            var (seen, unseen) = MmvpBySeen(Path.Combine(dir, WorldMmvp.PairsFile), v.PredictionsPath);
            if (double.IsFinite(seen)) m[MmvpSeen] = seen;
            if (double.IsFinite(unseen)) m[MmvpUnseen] = unseen;
        }
        return m;
    }

    /// <summary>The file <see cref="Write"/> puts beside the suite's scores.</summary>
    public const string FileName = "world_breakdown.json";

    /// <summary>
    /// <see cref="Metrics"/> of a finished suite, written (atomically) to <see cref="FileName"/> in
    /// <paramref name="outDir"/> and returned as a one-row markdown table (columns without inputs omitted).
    /// </summary>
    public static string Write(BenchmarkSuiteResult suite, BenchmarkPaths paths, string outDir)
    {
        var m = Metrics(suite, paths);
        var json = new JsonObject();
        foreach (var c in Columns)
            if (m.TryGetValue(c, out double v)) json[c] = Math.Round(v, 4);
        Directory.CreateDirectory(outDir);
        ScoresFile.Write(Path.Combine(outDir, FileName), json);
        var shown = Columns.Where(m.ContainsKey).ToList();
        if (shown.Count == 0) return "";
        return "| " + string.Join(" | ", shown) + " |\n|" + string.Concat(shown.Select(_ => "---|")) + "\n| " +
               string.Join(" | ", shown.Select(c => m[c].ToString("F2", System.Globalization.CultureInfo.InvariantCulture))) + " |";
    }

    /// <summary>
    /// MMVP pair accuracy (percent; a pair counts when both its questions are right) over the pairs of
    /// <paramref name="pairsPath"/> whose "clip_seen" is true, and over the others; NaN for an empty group.
    /// Correctness per question is the "correct" field of the predictions file.
    /// </summary>
    public static (double Seen, double Unseen) MmvpBySeen(string pairsPath, string predictionsPath)
    {
        var correct = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(predictionsPath))
            if (!string.IsNullOrWhiteSpace(line) && JsonNode.Parse(line) is JsonObject o && o["correct"] is JsonValue c)
                correct[o["id"]!.ToString()] = c.GetValue<bool>();
        int[] right = new int[2], total = new int[2];
        foreach (var line in File.ReadLines(pairsPath))
        {
            if (string.IsNullOrWhiteSpace(line) || JsonNode.Parse(line) is not JsonObject p) continue;
            if (p["clip_seen"] is not JsonValue s) continue;
            int g = s.GetValue<bool>() ? 0 : 1;
            var ids = p["indices"]!.AsArray().Select(x => x!.ToString()).ToList();
            total[g]++;
            if (ids.All(i => correct.GetValueOrDefault(i))) right[g]++;
        }
        double Pct(int g) => total[g] == 0 ? double.NaN : 100.0 * right[g] / total[g];
        return (Pct(0), Pct(1));
    }
}
