using System.Text;
using System.Text.RegularExpressions;

namespace Deem.Benchmarks;

/// <summary>One answer option of an MMVP question: "(a) Open" → ('a', "Open").</summary>
public sealed record MmvpOption(char Letter, string Text);

/// <summary>One MMVP question (a row of the official <c>Questions.csv</c>).</summary>
/// <param name="Index">1-based row index; the image is <c>MMVP Images/{Index}.jpg</c>.</param>
/// <param name="Question">The question text.</param>
/// <param name="OptionsText">The options as written, e.g. "(a) Open (b) Closed".</param>
/// <param name="Options">The parsed options.</param>
/// <param name="Correct">The correct option letter (from "(a)").</param>
/// <param name="ImagePath">Full path of the image.</param>
public sealed record MmvpQuestion(int Index, string Question, string OptionsText, IReadOnlyList<MmvpOption> Options, char Correct, string ImagePath);

/// <summary>MMVP scores: pair accuracy (the benchmark's number) and per-question accuracy, in percent.</summary>
public sealed record MmvpScores(double PairAccuracy, double QuestionAccuracy, int PairsCorrect, int Pairs, int QuestionsCorrect, int Questions)
{
    /// <summary>Wilson's 95 % interval of the pair accuracy over this run's pairs (<see cref="Stats.Wilson"/>), in percent.</summary>
    public (double Lower, double Upper) PairAccuracyInterval => Stats.WilsonPercent(PairAccuracy / 100, Pairs);
}

/// <summary>
/// MMVP (Tong et al., 2024; reference §6.3): 150 image pairs / 300 questions from the official
/// <c>Questions.csv</c> (columns <c>Index, Question, Options, Correct Answer</c>, options such as
/// "(a) Open (b) Closed", answers such as "(a)") with images <c>MMVP Images/{Index}.jpg</c>.
/// Prompt = question + " " + options, as the official <c>evaluate_mllm.py</c>. A pair — questions
/// (1, 2), (3, 4), … — counts only when both answers are right. The official grader asks GPT-4 whether
/// an answer is right; we use the deterministic option parser <see cref="ParseOption"/> instead.
/// </summary>
public static partial class Mmvp
{
    /// <summary>The questions file inside the MMVP folder.</summary>
    public const string QuestionsFile = "Questions.csv";

    /// <summary>The image folder inside the MMVP folder.</summary>
    public const string ImagesFolder = "MMVP Images";

    /// <summary>The prompt of the official evaluation script: question + " " + options.</summary>
    public static string Prompt(MmvpQuestion q) => q.Question + " " + q.OptionsText;

    /// <summary>Reads <c>Questions.csv</c> of an MMVP folder.</summary>
    public static IReadOnlyList<MmvpQuestion> Load(string directory)
    {
        string csv = Path.Combine(directory, QuestionsFile);
        if (!File.Exists(csv)) throw new DeemFormatException(csv, "MMVP question file not found.");
        var rows = Csv.Parse(File.ReadAllText(csv, Encoding.UTF8), csv);
        if (rows.Count == 0) throw new DeemFormatException(csv, "the file is empty.");
        string[] header = rows[0].Select(h => h.Trim().TrimStart('\uFEFF')).ToArray();
        int Col(string name) => Array.IndexOf(header, name) is int i and >= 0
            ? i : throw new DeemFormatException(csv, $"missing column '{name}'.", name);
        int cIndex = Col("Index"), cQuestion = Col("Question"), cOptions = Col("Options"), cAnswer = Col("Correct Answer");

        var list = new List<MmvpQuestion>();
        for (int r = 1; r < rows.Count; r++)
        {
            var row = rows[r];
            if (row.Count == 1 && string.IsNullOrWhiteSpace(row[0])) continue;
            if (row.Count < header.Length) throw new DeemFormatException(csv, $"row {r + 1} has {row.Count} fields, expected {header.Length}.");
            if (!int.TryParse(row[cIndex].Trim(), out int index))
                throw new DeemFormatException(csv, $"row {r + 1}: Index '{row[cIndex]}' is not an integer.", "Index");
            var options = ParseOptions(row[cOptions]);
            if (options.Count < 2) throw new DeemFormatException(csv, $"row {r + 1}: cannot read options from '{row[cOptions]}'.", "Options");
            var correct = LetterOnly().Match(row[cAnswer].Trim().ToLowerInvariant());
            if (!correct.Success || options.All(o => o.Letter != correct.Groups[1].Value[0]))
                throw new DeemFormatException(csv, $"row {r + 1}: Correct Answer '{row[cAnswer]}' is not one of the options.", "Correct Answer");
            list.Add(new MmvpQuestion(index, row[cQuestion].Trim(), row[cOptions].Trim(), options, correct.Groups[1].Value[0],
                Path.Combine(directory, ImagesFolder, $"{index}.jpg")));
        }
        return list;
    }

    /// <summary>Parses "(a) Open (b) Closed" into options (letters lowercased).</summary>
    public static IReadOnlyList<MmvpOption> ParseOptions(string text) =>
        OptionMarker().Matches(text)
            .Select(m => new MmvpOption(char.ToLowerInvariant(m.Groups[1].Value[0]), m.Groups[2].Value.Trim()))
            .ToArray();

    /// <summary>
    /// Maps a free-form answer to an option letter, or null when it names none or more than one.
    /// Tried in order (case-insensitive): the answer is just a letter ("a", "(a)", "a)", "b."); it holds
    /// exactly one "(x)" marker ("The answer is (b) closed"); it starts with "x)" / "x." / "x:"; it ends
    /// with "answer is x" / "option x"; it equals one option's text or contains exactly one option's text
    /// as whole words (an option whose text lies inside another matched option's text is dropped).
    /// </summary>
    public static char? ParseOption(string answer, IReadOnlyList<MmvpOption> options)
    {
        string a = answer.Trim().ToLowerInvariant();
        var letters = options.Select(o => o.Letter).ToHashSet();
        char? Known(Match m) => m.Success && letters.Contains(m.Groups[1].Value[0]) ? m.Groups[1].Value[0] : null;

        if (Known(LetterOnly().Match(a.TrimEnd('.', '!', ' '))) is char only) return only;

        var markers = Marker().Matches(a).Select(m => m.Groups[1].Value[0]).Where(letters.Contains).Distinct().ToArray();
        if (markers.Length == 1) return markers[0];
        if (markers.Length > 1) return null;

        if (Known(LeadingLetter().Match(a)) is char lead) return lead;
        if (Known(NamedLetter().Match(a)) is char named) return named;

        string bare = a.TrimEnd('.', '!', ' ');
        foreach (var o in options)
            if (bare == o.Text.ToLowerInvariant()) return o.Letter;
        var hits = options.Where(o => o.Text.Length > 0 &&
            Regex.IsMatch(a, @"(?<![\p{L}\p{N}])" + Regex.Escape(o.Text.ToLowerInvariant()) + @"(?![\p{L}\p{N}])")).ToList();
        hits = hits.Where(o => !hits.Any(p => p != o && p.Text.Length > o.Text.Length &&
            p.Text.Contains(o.Text, StringComparison.OrdinalIgnoreCase))).ToList();
        return hits.Count == 1 ? hits[0].Letter : null;
    }

    /// <summary>Whether an answer picks the correct option.</summary>
    public static bool IsCorrect(MmvpQuestion q, string answer) => ParseOption(answer, q.Options) == q.Correct;

    /// <summary>
    /// Scores answers (same order as <paramref name="questions"/>). Questions are paired by index:
    /// (1, 2), (3, 4), …; every index must have its partner.
    /// </summary>
    public static MmvpScores Score(IReadOnlyList<MmvpQuestion> questions, IReadOnlyList<string> answers)
    {
        if (questions.Count != answers.Count)
            throw new ArgumentException($"questions has {questions.Count} items, answers has {answers.Count}.");
        if (questions.Count == 0) throw new ArgumentException("No items to score.", nameof(questions));
        var right = new Dictionary<int, bool>();
        for (int i = 0; i < questions.Count; i++)
            if (!right.TryAdd(questions[i].Index, IsCorrect(questions[i], answers[i])))
                throw new ArgumentException($"Index {questions[i].Index} appears twice.", nameof(questions));
        int pairs = 0, pairsRight = 0;
        foreach (int index in right.Keys.Where(k => k % 2 == 1).Order())
        {
            if (!right.TryGetValue(index + 1, out bool second))
                throw new ArgumentException($"Question {index} has no partner {index + 1}.", nameof(questions));
            pairs++;
            if (right[index] && second) pairsRight++;
        }
        if (pairs * 2 != right.Count)
            throw new ArgumentException("Every pair must be (odd index, next even index).", nameof(questions));
        int qRight = right.Values.Count(v => v);
        return new MmvpScores(100.0 * pairsRight / pairs, 100.0 * qRight / right.Count, pairsRight, pairs, qRight, right.Count);
    }

    [GeneratedRegex(@"\(([A-Za-z])\)\s*(.*?)\s*(?=\([A-Za-z]\)|$)", RegexOptions.Singleline)]
    private static partial Regex OptionMarker();

    [GeneratedRegex(@"^\(?([a-z])\)?$")]
    private static partial Regex LetterOnly();

    [GeneratedRegex(@"\(([a-z])\)")]
    private static partial Regex Marker();

    [GeneratedRegex(@"^([a-z])[\).:](\s|$)")]
    private static partial Regex LeadingLetter();

    [GeneratedRegex(@"(?:answer|option)\s*(?:is|:)?\s*([a-z])[\s.!]*$")]
    private static partial Regex NamedLetter();
}
