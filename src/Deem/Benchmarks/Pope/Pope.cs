using System.Text.Json;
using System.Text.Json.Nodes;

namespace Deem.Benchmarks;

/// <summary>One POPE question (a line of <c>coco_pope_{random,popular,adversarial}.json</c>).</summary>
/// <param name="QuestionId">The file's <c>question_id</c>.</param>
/// <param name="Image">Image file name (COCO val2014).</param>
/// <param name="Text">"Is there a … in the image?"</param>
/// <param name="Label">"yes" or "no".</param>
public sealed record PopeQuestion(long QuestionId, string Image, string Text, string Label);

/// <summary>POPE scores of one split; precision/recall/F1 are for the positive class "yes".</summary>
public sealed record PopeMetrics(int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives,
    double Accuracy, double Precision, double Recall, double F1, double YesRatio);

/// <summary>
/// POPE (Li et al., 2023; reference §6.2): question files, DEEM's prompt and the scores.
/// </summary>
/// <remarks>
/// Two ways of reading an answer, both provided:
/// <list type="bullet">
/// <item><see cref="OfficialSaysYes"/>: the official POPE <c>evaluate.py</c>: keep the text before the
/// first '.', drop ',', split on ' '; the answer is "no" when one of the words is "No", "no" or "not",
/// otherwise "yes" (so an answer that says neither counts as yes). Accuracy, precision, recall, F1 and
/// yes-ratio come from this reading, as in the POPE paper.</item>
/// <item>DEEM's accuracy (the paper's table): <see cref="AnswerExtractor"/> then exact match with the
/// label; an answer that extracts to neither "yes" nor "no" is simply wrong.</item>
/// </list>
/// </remarks>
public static class Pope
{
    /// <summary>The three POPE splits, in the paper's column order (R / P / A).</summary>
    public static readonly IReadOnlyList<string> Splits = ["random", "popular", "adversarial"];

    /// <summary>The file name of a split: <c>coco_pope_{split}.json</c>.</summary>
    public static string FileName(string split) => $"coco_pope_{split}.json";

    /// <summary>DEEM's prompt: the question + " Please anwser yes or no" (the authors' typo "anwser" kept for parity).</summary>
    public static string Prompt(PopeQuestion q) => q.Text + " Please anwser yes or no";

    /// <summary>Reads a POPE file (JSON lines with <c>question_id</c>, <c>image</c>, <c>text</c>, <c>label</c>).</summary>
    public static IReadOnlyList<PopeQuestion> Load(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "POPE question file not found.");
        var list = new List<PopeQuestion>();
        int lineNo = 0;
        foreach (string raw in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(raw)) continue;
            JsonObject obj;
            try
            {
                obj = JsonNode.Parse(raw) as JsonObject ?? throw new DeemFormatException(path, $"line {lineNo} is not a JSON object.");
            }
            catch (JsonException e)
            {
                throw new DeemFormatException(path, $"line {lineNo} is not valid JSON: {e.Message}", inner: e);
            }
            string label = Str(obj, "label", path, lineNo);
            if (label != "yes" && label != "no")
                throw new DeemFormatException(path, $"line {lineNo}: label must be \"yes\" or \"no\", found \"{label}\".", "label");
            if (obj["question_id"] is not JsonValue idValue || !idValue.TryGetValue(out long id))
                throw new DeemFormatException(path, $"line {lineNo}: missing integer question_id.", "question_id");
            list.Add(new PopeQuestion(id, Str(obj, "image", path, lineNo), Str(obj, "text", path, lineNo), label));
        }
        return list;
    }

    static string Str(JsonObject obj, string key, string path, int lineNo) =>
        obj[key] is JsonValue v && v.TryGetValue(out string? s)
            ? s
            : throw new DeemFormatException(path, $"line {lineNo}: missing string '{key}'.", key);

    /// <summary>The official POPE reading of a free-form answer: true = "yes".</summary>
    public static bool OfficialSaysYes(string answer)
    {
        string text = answer;
        int dot = text.IndexOf('.');
        if (dot >= 0) text = text[..dot];            // only keep the first sentence
        text = text.Replace(",", "");
        string[] words = text.Split(' ');             // Python split(' '): single spaces, empty words kept
        return !words.Any(w => w is "No" or "not" or "no");
    }

    /// <summary>Scores predicted yes/no against labels (true = "yes").</summary>
    public static PopeMetrics Metrics(IReadOnlyList<bool> predictedYes, IReadOnlyList<bool> labelYes)
    {
        if (predictedYes.Count != labelYes.Count)
            throw new ArgumentException($"predictedYes has {predictedYes.Count} items, labelYes has {labelYes.Count}.");
        if (predictedYes.Count == 0) throw new ArgumentException("No items to score.", nameof(predictedYes));
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (int i = 0; i < predictedYes.Count; i++)
        {
            if (predictedYes[i]) { if (labelYes[i]) tp++; else fp++; }
            else { if (labelYes[i]) fn++; else tn++; }
        }
        int n = predictedYes.Count;
        // The official script divides by zero when nothing is predicted "yes"; we report 0 there.
        double precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp);
        double recall = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
        double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        return new PopeMetrics(tp, fp, tn, fn, (double)(tp + tn) / n, precision, recall, f1, (double)(tp + fp) / n);
    }

    /// <summary>Official POPE metrics of free-form <paramref name="answers"/> (same order as <paramref name="questions"/>).</summary>
    public static PopeMetrics Score(IReadOnlyList<PopeQuestion> questions, IReadOnlyList<string> answers)
    {
        CheckCounts(questions, answers);
        return Metrics(answers.Select(OfficialSaysYes).ToArray(), questions.Select(q => q.Label == "yes").ToArray());
    }

    /// <summary>DEEM's POPE accuracy in percent: extractor + exact match with the label.</summary>
    public static double DeemAccuracyPercent(IReadOnlyList<PopeQuestion> questions, IReadOnlyList<string> answers)
    {
        CheckCounts(questions, answers);
        return AnswerExtractor.AccuracyPercent(answers, questions.Select(q => q.Label).ToArray());
    }

    static void CheckCounts(IReadOnlyList<PopeQuestion> questions, IReadOnlyList<string> answers)
    {
        if (questions.Count != answers.Count)
            throw new ArgumentException($"questions has {questions.Count} items, answers has {answers.Count}.");
    }
}
