using System.Text.Json.Nodes;

namespace Deem.Benchmarks;

/// <summary>POPE result of one split.</summary>
/// <param name="Split">"random", "popular" or "adversarial".</param>
/// <param name="DeemAccuracy">DEEM's accuracy in percent: extractor + exact match with the label (the paper's number, reference §6.2).</param>
/// <param name="Official">The official POPE reading's confusion matrix, accuracy, precision, recall, F1 and yes-ratio (fractions in [0, 1]).</param>
/// <param name="Questions">Questions scored.</param>
/// <param name="Computed">Questions this run asked the model.</param>
/// <param name="PredictionsPath">The split's predictions JSONL.</param>
public sealed record PopeSplitResult(string Split, double DeemAccuracy, PopeMetrics Official, int Questions, int Computed, string PredictionsPath)
{
    /// <summary>Wilson's 95 % interval of the official accuracy over this split's questions (<see cref="Stats.Wilson"/>), in percent.</summary>
    public (double Lower, double Upper) AccuracyInterval => Stats.WilsonPercent(Official.Accuracy, Questions);
}

/// <summary>POPE result of a run: one entry per split, in the order run.</summary>
public sealed record PopeRunResult(IReadOnlyList<PopeSplitResult> Splits, string ScoresPath)
{
    /// <summary>The result of <paramref name="split"/>, or null when it was not run.</summary>
    public PopeSplitResult? this[string split] => Splits.FirstOrDefault(s => s.Split == split);

    /// <summary>Questions this run asked the model, over all splits.</summary>
    public int Computed => Splits.Sum(s => s.Computed);
}

/// <summary>
/// Runs POPE (Li et al., 2023; reference §6.2) on <c>coco_pope_{random,popular,adversarial}.json</c>:
/// prompt = text + " Please anwser yes or no"; per split DEEM's extractor accuracy and the official
/// metrics (accuracy, precision, recall, F1, yes-ratio). Writes <c>pope_{split}_predictions.jsonl</c>
/// (resumable) and <c>pope_scores.json</c> (atomic; every number in percent).
/// </summary>
public static class PopeRunner
{
    public const string ScoresFileName = "pope_scores.json";

    /// <summary>The predictions file of a split.</summary>
    public static string PredictionsFile(string split) => $"pope_{split}_predictions.jsonl";

    /// <summary>The run's items of one split; ids are the file's <c>question_id</c>.</summary>
    public static IReadOnlyList<EvalItem> Items(IReadOnlyList<PopeQuestion> questions, string imageDir) =>
        questions.Select(q => new EvalItem(q.QuestionId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Path.Combine(imageDir, q.Image), q.Image, Pope.Prompt(q), null, q.Label)).ToList();

    /// <summary>
    /// Answers and scores the splits (default all three) whose question files lie in
    /// <paramref name="popeDir"/>, images in the flat folder <paramref name="imageDir"/>.
    /// </summary>
    public static PopeRunResult Run(IVqaModel model, string popeDir, string imageDir, string outDir,
        EvalOptions? options = null, IReadOnlyList<string>? splits = null)
    {
        var results = new List<PopeSplitResult>();
        var json = new JsonObject();
        foreach (string split in splits ?? Pope.Splits)                  // every split's file, before any is run
            if (Path.Combine(popeDir, Pope.FileName(split)) is var f && !File.Exists(f))
                throw new DeemFormatException(f, "POPE question file not found.");
        foreach (string split in splits ?? Pope.Splits)
        {
            string file = Path.Combine(popeDir, Pope.FileName(split));
            var questions = Pope.Load(file);
            if (questions.Count == 0) throw new DeemFormatException(file, "the question file is empty.");
            string predictions = Path.Combine(outDir, PredictionsFile(split));
            var answered = PredictionRunner.Run(model, Items(questions, imageDir), predictions, options,
                (item, answer) => AnswerExtractor.Matches(answer, item.Label));
            var official = Pope.Score(questions, answered.Answers);
            double deem = Pope.DeemAccuracyPercent(questions, answered.Answers);
            var result = new PopeSplitResult(split, deem, official, questions.Count, answered.Computed, predictions);
            results.Add(result);
            var (lower, upper) = result.AccuracyInterval;
            json[split] = new JsonObject
            {
                ["accuracy_deem"] = deem,
                ["accuracy"] = 100 * official.Accuracy,
                ["accuracy_ci95"] = new JsonArray(lower, upper),     // this run's sampling error over its questions (Wilson)
                ["precision"] = 100 * official.Precision,
                ["recall"] = 100 * official.Recall,
                ["f1"] = 100 * official.F1,
                ["yes_ratio"] = 100 * official.YesRatio,
                ["tp"] = official.TruePositives, ["fp"] = official.FalsePositives,
                ["tn"] = official.TrueNegatives, ["fn"] = official.FalseNegatives,
                ["questions"] = questions.Count,
            };
        }
        json["unit"] = "percent";
        string scoresPath = Path.Combine(outDir, ScoresFileName);
        ScoresFile.Write(scoresPath, json);
        return new PopeRunResult(results, scoresPath);
    }
}
