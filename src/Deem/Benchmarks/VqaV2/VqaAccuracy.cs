using System.Text.RegularExpressions;

namespace Deem.Benchmarks;

/// <summary>
/// The standard VQAv2 accuracy (reference §6.4; the official <c>vqaEval.py</c> of the VQA API that the
/// authors ship as <c>vqav2_metrics_src</c>): answer normalisation (punctuation, number words, articles,
/// contractions) and accuracy = mean over the 10 leave-one-out subsets of the human answers of
/// min(1, #matches / 3).
/// </summary>
/// <remarks>
/// Ported with the official script's quirks, so scores equal the official ones:
/// <list type="bullet">
/// <item>The period regex <c>(?!&lt;=\d)(\.)(?!\d)</c> has a mistyped look-behind; it removes every '.'
/// not followed by a digit. The official call passes <c>re.UNICODE</c> (= 32) as the <c>count</c>
/// argument, so at most 32 periods are removed; we keep that.</item>
/// <item>A punctuation mark is deleted (not replaced by a space) when it touches a space somewhere in the
/// text or when the text contains a digit-comma-digit group ("1,000" → "1000").</item>
/// <item>The prediction gets punctuation + digit/article/contraction processing; the human answers get
/// punctuation processing only, and only when they are not all identical.</item>
/// <item>The contraction table is the official one, with its mix of straight and curly (U+2019)
/// apostrophes ("dont" → "don’t" with U+2019, "cant" → "can't" straight).</item>
/// </list>
/// DEEM first passes the generation through <see cref="AnswerExtractor.Extract"/>
/// (<c>use_extract_answer=True</c>); <see cref="Score(string, IReadOnlyList{string}, bool)"/> does that when asked.
/// </remarks>
public static class VqaAccuracy
{
    /// <summary>The official contractions map (keys with capitals never match after lowercasing; kept as published).</summary>
    public static readonly IReadOnlyDictionary<string, string> Contractions = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["aint"] = "ain't", ["arent"] = "aren't", ["cant"] = "can't", ["couldve"] = "could've",
        ["couldnt"] = "couldn't", ["couldn'tve"] = "couldn\u2019t\u2019ve", ["couldnt\u2019ve"] = "couldn\u2019t\u2019ve", ["didnt"] = "didn\u2019t",
        ["doesnt"] = "doesn\u2019t", ["dont"] = "don\u2019t", ["hadnt"] = "hadn\u2019t", ["hadnt\u2019ve"] = "hadn\u2019t\u2019ve",
        ["hadn'tve"] = "hadn\u2019t\u2019ve", ["hasnt"] = "hasn\u2019t", ["havent"] = "haven\u2019t", ["hed"] = "he\u2019d",
        ["hed\u2019ve"] = "he\u2019d\u2019ve", ["he\u2019dve"] = "he\u2019d\u2019ve", ["hes"] = "he\u2019s", ["howd"] = "how\u2019d",
        ["howll"] = "how\u2019ll", ["hows"] = "how\u2019s", ["Id\u2019ve"] = "I\u2019d\u2019ve", ["I\u2019dve"] = "I\u2019d\u2019ve",
        ["Im"] = "I\u2019m", ["Ive"] = "I\u2019ve", ["isnt"] = "isn\u2019t", ["itd"] = "it\u2019d",
        ["itd\u2019ve"] = "it\u2019d\u2019ve", ["it\u2019dve"] = "it\u2019d\u2019ve", ["itll"] = "it\u2019ll", ["let\u2019s"] = "let\u2019s",
        ["maam"] = "ma\u2019am", ["mightnt"] = "mightn\u2019t", ["mightnt\u2019ve"] = "mightn\u2019t\u2019ve", ["mightn\u2019tve"] = "mightn\u2019t\u2019ve",
        ["mightve"] = "might\u2019ve", ["mustnt"] = "mustn\u2019t", ["mustve"] = "must\u2019ve", ["neednt"] = "needn\u2019t",
        ["notve"] = "not\u2019ve", ["oclock"] = "o\u2019clock", ["oughtnt"] = "oughtn\u2019t", ["ow\u2019s\u2019at"] = "\u2019ow\u2019s\u2019at",
        ["\u2019ows\u2019at"] = "\u2019ow\u2019s\u2019at", ["\u2019ow\u2019sat"] = "\u2019ow\u2019s\u2019at", ["shant"] = "shan\u2019t", ["shed\u2019ve"] = "she\u2019d\u2019ve",
        ["she\u2019dve"] = "she\u2019d\u2019ve", ["she\u2019s"] = "she\u2019s", ["shouldve"] = "should\u2019ve", ["shouldnt"] = "shouldn\u2019t",
        ["shouldnt\u2019ve"] = "shouldn\u2019t\u2019ve", ["shouldn\u2019tve"] = "shouldn\u2019t\u2019ve", ["somebody\u2019d"] = "somebodyd", ["somebodyd\u2019ve"] = "somebody\u2019d\u2019ve",
        ["somebody\u2019dve"] = "somebody\u2019d\u2019ve", ["somebodyll"] = "somebody\u2019ll", ["somebodys"] = "somebody\u2019s", ["someoned"] = "someone\u2019d",
        ["someoned\u2019ve"] = "someone\u2019d\u2019ve", ["someone\u2019dve"] = "someone\u2019d\u2019ve", ["someonell"] = "someone\u2019ll", ["someones"] = "someone\u2019s",
        ["somethingd"] = "something\u2019d", ["somethingd\u2019ve"] = "something\u2019d\u2019ve", ["something\u2019dve"] = "something\u2019d\u2019ve", ["somethingll"] = "something\u2019ll",
        ["thats"] = "that\u2019s", ["thered"] = "there\u2019d", ["thered\u2019ve"] = "there\u2019d\u2019ve", ["there\u2019dve"] = "there\u2019d\u2019ve",
        ["therere"] = "there\u2019re", ["theres"] = "there\u2019s", ["theyd"] = "they\u2019d", ["theyd\u2019ve"] = "they\u2019d\u2019ve",
        ["they\u2019dve"] = "they\u2019d\u2019ve", ["theyll"] = "they\u2019ll", ["theyre"] = "they\u2019re", ["theyve"] = "they\u2019ve",
        ["twas"] = "\u2019twas", ["wasnt"] = "wasn\u2019t", ["wed\u2019ve"] = "we\u2019d\u2019ve", ["we\u2019dve"] = "we\u2019d\u2019ve",
        ["weve"] = "we've", ["werent"] = "weren\u2019t", ["whatll"] = "what\u2019ll", ["whatre"] = "what\u2019re",
        ["whats"] = "what\u2019s", ["whatve"] = "what\u2019ve", ["whens"] = "when\u2019s", ["whered"] = "where\u2019d",
        ["wheres"] = "where's", ["whereve"] = "where\u2019ve", ["whod"] = "who\u2019d", ["whod\u2019ve"] = "who\u2019d\u2019ve",
        ["who\u2019dve"] = "who\u2019d\u2019ve", ["wholl"] = "who\u2019ll", ["whos"] = "who\u2019s", ["whove"] = "who've",
        ["whyll"] = "why\u2019ll", ["whyre"] = "why\u2019re", ["whys"] = "why\u2019s", ["wont"] = "won\u2019t",
        ["wouldve"] = "would\u2019ve", ["wouldnt"] = "wouldn\u2019t", ["wouldnt\u2019ve"] = "wouldn\u2019t\u2019ve", ["wouldn\u2019tve"] = "wouldn\u2019t\u2019ve",
        ["yall"] = "y\u2019all", ["yall\u2019ll"] = "y\u2019all\u2019ll", ["y\u2019allll"] = "y\u2019all\u2019ll", ["yall\u2019d\u2019ve"] = "y\u2019all\u2019d\u2019ve",
        ["y\u2019alld\u2019ve"] = "y\u2019all\u2019d\u2019ve", ["y\u2019all\u2019dve"] = "y\u2019all\u2019d\u2019ve", ["youd"] = "you\u2019d", ["youd\u2019ve"] = "you\u2019d\u2019ve",
        ["you\u2019dve"] = "you\u2019d\u2019ve", ["youll"] = "you\u2019ll", ["youre"] = "you\u2019re", ["youve"] = "you\u2019ve",
    };

    /// <summary>Number words mapped to digits ("none" → "0").</summary>
    public static readonly IReadOnlyDictionary<string, string> NumberWords = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["none"] = "0", ["zero"] = "0", ["one"] = "1", ["two"] = "2", ["three"] = "3", ["four"] = "4",
        ["five"] = "5", ["six"] = "6", ["seven"] = "7", ["eight"] = "8", ["nine"] = "9", ["ten"] = "10",
    };

    static readonly HashSet<string> Articles = new(StringComparer.Ordinal) { "a", "an", "the" };

    static readonly string[] Punct = [";", ":", "/", "'", "[", "]", "\"", "(", ")", "=", "+", "\\", "_", ">", "<", "@", "`", ",", "?"];

    static readonly Regex PeriodStrip = new(@"(?!<=\d)(\.)(?!\d)", RegexOptions.CultureInvariant);
    static readonly Regex CommaStrip = new(@"(\d)(\,)(\d)", RegexOptions.CultureInvariant);
    const int PeriodStripCount = 32; // re.UNICODE passed as count in the official call

    /// <summary>The official <c>processPunctuation</c>.</summary>
    public static string ProcessPunctuation(string inText)
    {
        string outText = inText;
        bool digitComma = CommaStrip.IsMatch(inText);
        foreach (string p in Punct)
        {
            bool touchesSpace = inText.Contains(p + " ", StringComparison.Ordinal) || inText.Contains(" " + p, StringComparison.Ordinal);
            outText = outText.Replace(p, touchesSpace || digitComma ? "" : " ", StringComparison.Ordinal);
        }
        return PeriodStrip.Replace(outText, "", PeriodStripCount);
    }

    /// <summary>The official <c>processDigitArticle</c>: lowercase, number words → digits, drop articles, contractions.</summary>
    public static string ProcessDigitArticle(string inText)
    {
        var words = new List<string>();
        foreach (string raw in inText.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            string word = NumberWords.TryGetValue(raw, out string? digit) ? digit : raw;
            if (!Articles.Contains(word)) words.Add(word);
        }
        for (int i = 0; i < words.Count; i++)
            if (Contractions.TryGetValue(words[i], out string? full)) words[i] = full;
        return string.Join(' ', words);
    }

    /// <summary>The prediction's normalisation: newlines/tabs → spaces, strip, punctuation, digits/articles.</summary>
    public static string NormalizePrediction(string answer)
    {
        string s = answer.Replace('\n', ' ').Replace('\t', ' ').Trim();
        return ProcessDigitArticle(ProcessPunctuation(s));
    }

    /// <summary>
    /// VQA accuracy in [0, 1] of one prediction against the human answers (10 in VQAv2): for each human,
    /// min(1, #other humans that gave the prediction / 3), averaged over the humans.
    /// </summary>
    public static double Score(string prediction, IReadOnlyList<string> humanAnswers, bool useExtractor = false)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        if (humanAnswers.Count == 0) throw new ArgumentException("No human answers.", nameof(humanAnswers));
        string res = NormalizePrediction(useExtractor ? AnswerExtractor.Extract(prediction) : prediction);
        bool differ = humanAnswers.Distinct(StringComparer.Ordinal).Skip(1).Any();
        string[] gts = humanAnswers.Select(a => differ ? ProcessPunctuation(a) : a).ToArray();
        double sum = 0;
        for (int leaveOut = 0; leaveOut < gts.Length; leaveOut++)
        {
            int matches = 0;
            for (int j = 0; j < gts.Length; j++)
                if (j != leaveOut && gts[j] == res) matches++;
            sum += Math.Min(1.0, matches / 3.0);
        }
        return sum / gts.Length;
    }

    /// <summary>Overall accuracy in percent over questions (the official <c>accuracy['overall']</c>, unrounded).</summary>
    public static double AccuracyPercent(IReadOnlyList<string> predictions, IReadOnlyList<IReadOnlyList<string>> humanAnswers, bool useExtractor = false)
    {
        if (predictions.Count != humanAnswers.Count)
            throw new ArgumentException($"predictions has {predictions.Count} items, humanAnswers has {humanAnswers.Count}.");
        if (predictions.Count == 0) throw new ArgumentException("No items to score.", nameof(predictions));
        double total = 0;
        for (int i = 0; i < predictions.Count; i++) total += Score(predictions[i], humanAnswers[i], useExtractor);
        return 100.0 * total / predictions.Count;
    }
}
