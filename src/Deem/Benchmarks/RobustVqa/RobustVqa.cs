using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deem.IO;

namespace Deem.Benchmarks;

/// <summary>One entry of <c>robustvqa_test.json</c>: an image, its class and the mined wrong class.</summary>
public sealed record RobustVqaEntry(string FileName, string GtCaption, string ErrorCaption);

/// <summary>One yes/no question of RobustVQA.</summary>
/// <param name="Split">"imagenet_a", "imagenet_r" or "imagenet_v2".</param>
/// <param name="FileName">The image, as in the JSON file.</param>
/// <param name="Question">"Is {class} the main object in this image? Please anwser yes or no".</param>
/// <param name="Answer">"yes" for the true class, "no" for the mined wrong class.</param>
public sealed record RobustVqaQuestion(string Split, string FileName, string Question, string Answer);

/// <summary>RobustVQA accuracies in percent: per split (keys as in the JSON) and pooled over all questions.</summary>
/// <param name="PerSplit">Accuracy per split, in percent.</param>
/// <param name="Overall">Accuracy over all questions, in percent.</param>
/// <param name="QuestionsPerSplit">Questions scored per split (null when unknown: then no interval).</param>
public sealed record RobustVqaScores(IReadOnlyDictionary<string, double> PerSplit, double Overall,
    IReadOnlyDictionary<string, int>? QuestionsPerSplit = null)
{
    /// <summary>
    /// Wilson's 95 % interval of <paramref name="split"/>'s accuracy over its questions (<see cref="Stats.Wilson"/>), in
    /// percent; null when the split or its question count is unknown. Each image gives a "yes" and a "no" question, so
    /// the questions are not independent draws and the interval is a lower bound on the sampling error.
    /// </summary>
    public (double Lower, double Upper)? Interval(string split) =>
        QuestionsPerSplit is not null && QuestionsPerSplit.TryGetValue(split, out int n) && PerSplit.TryGetValue(split, out double acc)
            ? Stats.WilsonPercent(acc / 100, n)
            : null;
}

/// <summary>
/// The RobustVQA benchmark file, questions and scoring (paper §4 and appendix E.1; reference §6.1).
/// The file <c>robustvqa_test.json</c> is {"imagenet_a": [...], "imagenet_r": [...], "imagenet_v2": [...]}
/// with entries {"file_name", "gt_caption", "error_caption"}. Each entry gives two questions, one
/// answered "yes" (true class) and one "no" (mined wrong class); an answer is right when
/// <see cref="AnswerExtractor.Matches"/> says so.
/// </summary>
public static class RobustVqa
{
    /// <summary>The splits, in the paper's column order (A / R / V).</summary>
    public static readonly IReadOnlyList<string> Splits = ["imagenet_a", "imagenet_r", "imagenet_v2"];

    /// <summary>The authors' seed for the question shuffle (<c>random.seed(8823)</c>); our stream differs from Python's.</summary>
    public const ulong DefaultSeed = 8823;

    /// <summary>
    /// The question about <paramref name="className"/>. The typo "anwser" is the authors' and is kept:
    /// the prompt is part of what the model is evaluated on.
    /// </summary>
    public static string Question(string className) => $"Is {className} the main object in this image? Please anwser yes or no";

    /// <summary>Writes the benchmark file atomically (splits in <see cref="Splits"/> order, then any others).</summary>
    public static void Write(string path, IReadOnlyDictionary<string, IReadOnlyList<RobustVqaEntry>> splits)
    {
        var root = new JsonObject();
        foreach (string split in Splits.Where(splits.ContainsKey).Concat(splits.Keys.Where(k => !Splits.Contains(k))))
        {
            var arr = new JsonArray();
            foreach (var e in splits[split])
                arr.Add(new JsonObject { ["file_name"] = e.FileName, ["gt_caption"] = e.GtCaption, ["error_caption"] = e.ErrorCaption });
            root[split] = arr;
        }
        AtomicFile.WriteAllText(path, root.ToJsonString());
    }

    /// <summary>Reads a benchmark file (also the authors' older ones with "imagenet_s"/"imagenet_d" splits).</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<RobustVqaEntry>> Load(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "RobustVQA benchmark file not found.");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path, Encoding.UTF8)) as JsonObject
                ?? throw new DeemFormatException(path, "the file is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new DeemFormatException(path, $"not valid JSON: {e.Message}", inner: e);
        }
        var result = new Dictionary<string, IReadOnlyList<RobustVqaEntry>>(StringComparer.Ordinal);
        foreach (var (split, node) in root)
        {
            if (node is not JsonArray arr) throw new DeemFormatException(path, $"'{split}' is not a list.", split);
            var list = new List<RobustVqaEntry>();
            for (int i = 0; i < arr.Count; i++)
            {
                string Field(string key) => arr[i]?[key] is JsonValue v && v.TryGetValue(out string? s)
                    ? s : throw new DeemFormatException(path, $"'{split}'[{i}] has no string '{key}'.", key);
                list.Add(new RobustVqaEntry(Field("file_name"), Field("gt_caption"), Field("error_caption")));
            }
            result[split] = list;
        }
        return result;
    }

    /// <summary>
    /// The yes/no questions of the given splits: per entry the "yes" question then the "no" one, each
    /// split shuffled with its own <see cref="SeededRandom"/> stream derived from <paramref name="seed"/>.
    /// </summary>
    public static IReadOnlyList<RobustVqaQuestion> Questions(IReadOnlyDictionary<string, IReadOnlyList<RobustVqaEntry>> splits,
        ulong seed = DefaultSeed)
    {
        var all = new List<RobustVqaQuestion>();
        int splitNo = 0;
        foreach (string split in Splits.Where(splits.ContainsKey).Concat(splits.Keys.Where(k => !Splits.Contains(k)).Order(StringComparer.Ordinal)))
        {
            var qs = new List<RobustVqaQuestion>();
            foreach (var e in splits[split])
            {
                qs.Add(new RobustVqaQuestion(split, e.FileName, Question(e.GtCaption), "yes"));
                qs.Add(new RobustVqaQuestion(split, e.FileName, Question(e.ErrorCaption), "no"));
            }
            new SeededRandom(seed + (ulong)splitNo++ * 0x9E3779B97F4A7C15UL).Shuffle(qs);
            all.AddRange(qs);
        }
        return all;
    }

    /// <summary>Accuracy per split and pooled, of free-form answers (same order as <paramref name="questions"/>).</summary>
    public static RobustVqaScores Score(IReadOnlyList<RobustVqaQuestion> questions, IReadOnlyList<string> answers)
    {
        if (questions.Count != answers.Count)
            throw new ArgumentException($"questions has {questions.Count} items, answers has {answers.Count}.");
        if (questions.Count == 0) throw new ArgumentException("No items to score.", nameof(questions));
        var hits = new Dictionary<string, (int Right, int Total)>(StringComparer.Ordinal);
        int right = 0;
        for (int i = 0; i < questions.Count; i++)
        {
            bool ok = AnswerExtractor.Matches(answers[i], questions[i].Answer);
            var (r, t) = hits.GetValueOrDefault(questions[i].Split);
            hits[questions[i].Split] = (r + (ok ? 1 : 0), t + 1);
            if (ok) right++;
        }
        var perSplit = hits.ToDictionary(kv => kv.Key, kv => 100.0 * kv.Value.Right / kv.Value.Total, StringComparer.Ordinal);
        var counts = hits.ToDictionary(kv => kv.Key, kv => kv.Value.Total, StringComparer.Ordinal);
        return new RobustVqaScores(perSplit, 100.0 * right / questions.Count, counts);
    }
}
