using System.Text.Json.Nodes;

namespace Deem.Benchmarks;

/// <summary>RobustVQA result of one run: accuracy in percent per split and pooled (reference §6.1).</summary>
/// <param name="Scores">Per split ("imagenet_a", "imagenet_r", "imagenet_v2") and overall accuracy, in percent.</param>
/// <param name="Questions">Questions scored.</param>
/// <param name="Computed">Questions this run asked the model (the others were already in the predictions file).</param>
/// <param name="PredictionsPath">The predictions JSONL.</param>
/// <param name="ScoresPath">The scores JSON.</param>
public sealed record RobustVqaRunResult(RobustVqaScores Scores, int Questions, int Computed, string PredictionsPath, string ScoresPath)
{
    /// <summary>RobustVQA-A accuracy (percent), NaN when the split is absent.</summary>
    public double A => Scores.PerSplit.GetValueOrDefault("imagenet_a", double.NaN);

    /// <summary>RobustVQA-R accuracy (percent), NaN when the split is absent.</summary>
    public double R => Scores.PerSplit.GetValueOrDefault("imagenet_r", double.NaN);

    /// <summary>RobustVQA-V accuracy (percent), NaN when the split is absent.</summary>
    public double V => Scores.PerSplit.GetValueOrDefault("imagenet_v2", double.NaN);
}

/// <summary>
/// Runs RobustVQA (paper §4 / appendix E.1, reference §6.1): each entry of <c>robustvqa_test.json</c>
/// gives the question "Is {gt_caption} the main object in this image? Please anwser yes or no" (answer
/// "yes") and the same with <c>error_caption</c> (answer "no"); answers go through
/// <see cref="AnswerExtractor"/>; accuracy per split and pooled. Writes
/// <c>robustvqa_predictions.jsonl</c> (resumable) and <c>robustvqa_scores.json</c> (atomic) in the output folder.
/// </summary>
public static class RobustVqaRunner
{
    public const string PredictionsFile = "robustvqa_predictions.jsonl";
    public const string ScoresFileName = "robustvqa_scores.json";

    /// <summary>The run's items: the shuffled questions (seed as the authors' 8823), ids "{split}/{file_name}/{yes|no}".</summary>
    public static IReadOnlyList<EvalItem> Items(string questionsJson, string imageRoot, ulong seed = RobustVqa.DefaultSeed) =>
        Items(RobustVqa.Questions(RobustVqa.Load(questionsJson), seed), imageRoot);

    static IReadOnlyList<EvalItem> Items(IReadOnlyList<RobustVqaQuestion> questions, string imageRoot) =>
        questions.Select(q => new EvalItem($"{q.Split}/{q.FileName}/{q.Answer}", Path.Combine(imageRoot, q.FileName), q.FileName,
            q.Question, null, q.Answer)).ToList();

    /// <summary>
    /// Answers every question of <paramref name="questionsJson"/> (images under <paramref name="imageRoot"/>,
    /// the folder that <c>file_name</c> is relative to) and scores them.
    /// </summary>
    public static RobustVqaRunResult Run(IVqaModel model, string questionsJson, string imageRoot, string outDir,
        EvalOptions? options = null, ulong seed = RobustVqa.DefaultSeed)
    {
        var questions = RobustVqa.Questions(RobustVqa.Load(questionsJson), seed);
        if (questions.Count == 0) throw new DeemFormatException(questionsJson, "the benchmark file has no entries.");
        var items = Items(questions, imageRoot);
        string predictions = Path.Combine(outDir, PredictionsFile), scoresPath = Path.Combine(outDir, ScoresFileName);
        var answered = PredictionRunner.Run(model, items, predictions, options, (item, answer) => AnswerExtractor.Matches(answer, item.Label));
        var scores = RobustVqa.Score(questions, answered.Answers);

        var json = new JsonObject();
        var intervals = new JsonObject();                 // each split's sampling error over its questions (Wilson)
        foreach (string split in RobustVqa.Splits.Where(scores.PerSplit.ContainsKey).Concat(scores.PerSplit.Keys.Where(k => !RobustVqa.Splits.Contains(k)).Order(StringComparer.Ordinal)))
        {
            json[split] = scores.PerSplit[split];
            if (scores.Interval(split) is { } ci) intervals[split] = new JsonArray(ci.Lower, ci.Upper);
        }
        json["overall"] = scores.Overall;
        json["questions"] = questions.Count;
        json["ci95"] = intervals;
        json["unit"] = "percent";
        ScoresFile.Write(scoresPath, json);
        return new RobustVqaRunResult(scores, questions.Count, answered.Computed, predictions, scoresPath);
    }
}
