using System.Text.Json.Nodes;
using Deem.Benchmarks;
using Deem.World;

namespace Deem.World.Benchmarks;

/// <summary>
/// The world-specific columns beside the paper's: RobustVQA's main-object accuracy on held-out
/// in-distribution images against the mean of the three shifted splits, MMVP's pair accuracy
/// split by whether the stage-0 CLIP's captions named the attribute the pair asks about
/// (<see cref="CaptionFamilies"/>), and POPE's recall of present objects split by their size — the
/// "fine details" the paper says CSR keeps.
/// </summary>
public static class WorldBreakdown
{
    public const string InDistribution = "RVQA-ID", Ood = "RVQA-OOD", MmvpSeen = "MMVP seen", MmvpUnseen = "MMVP unseen",
        PopeSmall = "POPE recall small", PopeLarge = "POPE recall large";

    /// <summary>The extra columns, in order.</summary>
    public static readonly IReadOnlyList<string> Columns = [InDistribution, Ood, MmvpSeen, MmvpUnseen, PopeSmall, PopeLarge];

    /// <summary>
    /// A present object is "small" when its largest instance's longer box side is at most this fraction of the
    /// image's side: at 96 px, 19 px or less, about 5 × 5 cells of the encoder's 24 × 24 first stage.
    /// </summary>
    public const double SmallObjectSide = 0.2;

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
        if (suite.Pope?["random"] is { } pope && paths.PopeDir is { } popeDir && File.Exists(Path.Combine(popeDir, WorldPope.InstancesFile)))
        {
            var (small, large) = PopeRecallBySize(Path.Combine(popeDir, WorldPope.InstancesFile), Path.Combine(popeDir, Pope.FileName("random")), pope.PredictionsPath);
            if (double.IsFinite(small)) m[PopeSmall] = small;
            if (double.IsFinite(large)) m[PopeLarge] = large;
        }
        return m;
    }

    /// <summary>
    /// POPE recall (percent of the "yes" questions answered right) over the questions of <paramref name="questionsPath"/>
    /// whose object's largest instance in its image is small (<see cref="SmallObjectSide"/>), and over the others; NaN for
    /// an empty group. Objects are read from the COCO instances (<paramref name="instancesPath"/>), the question's
    /// object is the category whose <see cref="PopeBuilder.DefaultTemplate"/> question is its text, and correctness is
    /// the "correct" field of the predictions file, matched by question id.
    /// </summary>
    public static (double Small, double Large) PopeRecallBySize(string instancesPath, string questionsPath, string predictionsPath)
    {
        var coco = Deem.Data.Formats.Coco.Read(instancesPath, null, new Deem.Data.Formats.SkipCounter(strict: true));
        var names = coco.Categories.ToDictionary(c => c.Id, c => c.Name);
        var images = coco.Images.ToDictionary(i => i.Id);
        var side = new Dictionary<(string Image, string Question), double>();          // largest instance per (image, question text)
        foreach (var a in coco.Annotations)
        {
            var im = images[a.ImageId];
            var key = (im.FileName, PopeBuilder.Question(PopeBuilder.DefaultTemplate, names[a.CategoryId]));
            double s = Math.Max(a.Bbox[2] / im.Width, a.Bbox[3] / im.Height);
            side[key] = Math.Max(side.GetValueOrDefault(key), s);
        }
        var correct = CorrectById(predictionsPath);
        int[] right = new int[2], total = new int[2];
        foreach (var q in Pope.Load(questionsPath).Where(q => q.Label == "yes"))
        {
            if (!side.TryGetValue((q.Image, q.Text), out double s))
                throw new DeemFormatException(questionsPath, $"question {q.QuestionId} asks about an object {instancesPath} does not place in {q.Image}", "text");
            int g = s <= SmallObjectSide ? 0 : 1;
            total[g]++;
            if (correct.GetValueOrDefault(q.QuestionId.ToString(System.Globalization.CultureInfo.InvariantCulture))) right[g]++;
        }
        double Pct(int g) => total[g] == 0 ? double.NaN : 100.0 * right[g] / total[g];
        return (Pct(0), Pct(1));
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
        var correct = CorrectById(predictionsPath);
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

    /// <summary>The "correct" field of each record of a predictions file (<c>PredictionRunner</c>'s JSONL), by its "id".</summary>
    static Dictionary<string, bool> CorrectById(string predictionsPath)
    {
        var correct = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(predictionsPath))
            if (!string.IsNullOrWhiteSpace(line) && JsonNode.Parse(line) is JsonObject o && o["correct"] is JsonValue c)
                correct[o["id"]!.ToString()] = c.GetValue<bool>();
        return correct;
    }
}
