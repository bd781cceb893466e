using System.Text.Json.Nodes;

namespace Deem.Benchmarks;

/// <summary>MMVP result of one run.</summary>
/// <param name="Scores">Pair accuracy (the benchmark's number) and question accuracy, in percent.</param>
/// <param name="Computed">Questions this run asked the model.</param>
/// <param name="PredictionsPath">The predictions JSONL.</param>
/// <param name="ScoresPath">The scores JSON.</param>
public sealed record MmvpRunResult(MmvpScores Scores, int Computed, string PredictionsPath, string ScoresPath);

/// <summary>
/// Runs MMVP (Tong et al., 2024; reference §6.3) on a folder with <c>Questions.csv</c> and
/// <c>MMVP Images/</c>: prompt = question + " " + options; an answer is read with the deterministic
/// option parser (<see cref="Mmvp.ParseOption"/>); a pair counts when both its questions are right.
/// Writes <c>mmvp_predictions.jsonl</c> (resumable; ids are the CSV's Index) and <c>mmvp_scores.json</c>.
/// </summary>
public static class MmvpRunner
{
    public const string PredictionsFile = "mmvp_predictions.jsonl";
    public const string ScoresFileName = "mmvp_scores.json";

    /// <summary>The run's items; the label is the correct option as written ("(a)").</summary>
    public static IReadOnlyList<EvalItem> Items(IReadOnlyList<MmvpQuestion> questions) =>
        questions.Select(q => new EvalItem(q.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), q.ImagePath,
            $"{Mmvp.ImagesFolder}/{q.Index}.jpg", Mmvp.Prompt(q), q.OptionsText, $"({q.Correct})")).ToList();

    /// <summary>Answers and scores every question of the MMVP folder <paramref name="mmvpDir"/>.</summary>
    public static MmvpRunResult Run(IVqaModel model, string mmvpDir, string outDir, EvalOptions? options = null)
    {
        var questions = Mmvp.Load(mmvpDir);
        if (questions.Count == 0) throw new DeemFormatException(Path.Combine(mmvpDir, Mmvp.QuestionsFile), "no questions.");
        var byIndex = questions.ToDictionary(q => q.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);
        string predictions = Path.Combine(outDir, PredictionsFile), scoresPath = Path.Combine(outDir, ScoresFileName);
        var answered = PredictionRunner.Run(model, Items(questions), predictions, options,
            (item, answer) => Mmvp.IsCorrect(byIndex[item.Id], answer));
        var scores = Mmvp.Score(questions, answered.Answers);
        var (lower, upper) = scores.PairAccuracyInterval;
        ScoresFile.Write(scoresPath, new JsonObject
        {
            ["pair_accuracy"] = scores.PairAccuracy,
            ["pair_accuracy_ci95"] = new JsonArray(lower, upper),   // this run's sampling error over its pairs (Wilson)
            ["question_accuracy"] = scores.QuestionAccuracy,
            ["pairs_correct"] = scores.PairsCorrect, ["pairs"] = scores.Pairs,
            ["questions_correct"] = scores.QuestionsCorrect, ["questions"] = scores.Questions,
            ["unit"] = "percent",
        });
        return new MmvpRunResult(scores, answered.Computed, predictions, scoresPath);
    }
}
