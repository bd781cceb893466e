using System.Text.RegularExpressions;

namespace Deem.Benchmarks;

/// <summary>
/// The VQAv2 accuracy of the official evaluator (GT-Vision-Lab/VQA master,
/// <c>PythonEvaluationTools/vqaEvaluation/vqaEval.py</c>; DEEM ships a copy as <c>vqav2_metrics_src</c>,
/// reference §6.4). Per question:
/// <list type="number">
/// <item>every answer (prediction and the ten human answers) gets '\n' and '\t' replaced by spaces and is
/// stripped of leading/trailing whitespace (Python's whitespace set);</item>
/// <item>only when the stripped human answers are not all identical are the prediction and every human
/// answer punctuation-processed and then digit/article-processed; when they are all identical the
/// comparison is on the stripped text as is (so "yes." or "Yes" against ten "yes" scores 0);</item>
/// <item>accuracy = mean over the humans h of min(1, #other humans whose answer equals the prediction / 3).</item>
/// </list>
/// Quirks kept so scores equal the official ones: the period regex <c>(?!&lt;=\d)(\.)(?!\d)</c> has a
/// mistyped look-behind and removes every '.' not followed by a digit, and its call passes
/// <c>re.UNICODE</c> (= 32) as the count, so at most 32 periods go; a punctuation mark is deleted (not
/// replaced by a space) when it touches a space anywhere in the text or the text holds a digit-comma-digit
/// group; the apostrophe and ':' are not in the punctuation list; contractions use straight apostrophes
/// and keys with capitals ("Im", "Ive") never match after lowercasing.
/// Python 3 semantics (DEEM's copy runs on CPython 3.10): <c>str.strip</c>/<c>split</c> whitespace and
/// Unicode <c>\d</c>; <c>str.lower</c> is approximated by invariant lowercasing (they differ only for a
/// few characters such as U+0130, which lowercase to two code points in Python).
/// </summary>
public static class VqaAccuracy
{
    /// <summary>The official contractions map, as published.</summary>
    public static readonly IReadOnlyDictionary<string, string> Contractions = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["aint"] = "ain't", ["arent"] = "aren't", ["cant"] = "can't", ["couldve"] = "could've",
        ["couldnt"] = "couldn't", ["couldn'tve"] = "couldn't've", ["couldnt've"] = "couldn't've", ["didnt"] = "didn't",
        ["doesnt"] = "doesn't", ["dont"] = "don't", ["hadnt"] = "hadn't", ["hadnt've"] = "hadn't've",
        ["hadn'tve"] = "hadn't've", ["hasnt"] = "hasn't", ["havent"] = "haven't", ["hed"] = "he'd",
        ["hed've"] = "he'd've", ["he'dve"] = "he'd've", ["hes"] = "he's", ["howd"] = "how'd",
        ["howll"] = "how'll", ["hows"] = "how's", ["Id've"] = "I'd've", ["I'dve"] = "I'd've",
        ["Im"] = "I'm", ["Ive"] = "I've", ["isnt"] = "isn't", ["itd"] = "it'd",
        ["itd've"] = "it'd've", ["it'dve"] = "it'd've", ["itll"] = "it'll", ["let's"] = "let's",
        ["maam"] = "ma'am", ["mightnt"] = "mightn't", ["mightnt've"] = "mightn't've", ["mightn'tve"] = "mightn't've",
        ["mightve"] = "might've", ["mustnt"] = "mustn't", ["mustve"] = "must've", ["neednt"] = "needn't",
        ["notve"] = "not've", ["oclock"] = "o'clock", ["oughtnt"] = "oughtn't", ["ow's'at"] = "'ow's'at",
        ["'ows'at"] = "'ow's'at", ["'ow'sat"] = "'ow's'at", ["shant"] = "shan't", ["shed've"] = "she'd've",
        ["she'dve"] = "she'd've", ["she's"] = "she's", ["shouldve"] = "should've", ["shouldnt"] = "shouldn't",
        ["shouldnt've"] = "shouldn't've", ["shouldn'tve"] = "shouldn't've", ["somebody'd"] = "somebodyd", ["somebodyd've"] = "somebody'd've",
        ["somebody'dve"] = "somebody'd've", ["somebodyll"] = "somebody'll", ["somebodys"] = "somebody's", ["someoned"] = "someone'd",
        ["someoned've"] = "someone'd've", ["someone'dve"] = "someone'd've", ["someonell"] = "someone'll", ["someones"] = "someone's",
        ["somethingd"] = "something'd", ["somethingd've"] = "something'd've", ["something'dve"] = "something'd've", ["somethingll"] = "something'll",
        ["thats"] = "that's", ["thered"] = "there'd", ["thered've"] = "there'd've", ["there'dve"] = "there'd've",
        ["therere"] = "there're", ["theres"] = "there's", ["theyd"] = "they'd", ["theyd've"] = "they'd've",
        ["they'dve"] = "they'd've", ["theyll"] = "they'll", ["theyre"] = "they're", ["theyve"] = "they've",
        ["twas"] = "'twas", ["wasnt"] = "wasn't", ["wed've"] = "we'd've", ["we'dve"] = "we'd've",
        ["weve"] = "we've", ["werent"] = "weren't", ["whatll"] = "what'll", ["whatre"] = "what're",
        ["whats"] = "what's", ["whatve"] = "what've", ["whens"] = "when's", ["whered"] = "where'd",
        ["wheres"] = "where's", ["whereve"] = "where've", ["whod"] = "who'd", ["whod've"] = "who'd've",
        ["who'dve"] = "who'd've", ["wholl"] = "who'll", ["whos"] = "who's", ["whove"] = "who've",
        ["whyll"] = "why'll", ["whyre"] = "why're", ["whys"] = "why's", ["wont"] = "won't",
        ["wouldve"] = "would've", ["wouldnt"] = "wouldn't", ["wouldnt've"] = "wouldn't've", ["wouldn'tve"] = "wouldn't've",
        ["yall"] = "y'all", ["yall'll"] = "y'all'll", ["y'allll"] = "y'all'll", ["yall'd've"] = "y'all'd've",
        ["y'alld've"] = "y'all'd've", ["y'all'dve"] = "y'all'd've", ["youd"] = "you'd", ["youd've"] = "you'd've",
        ["you'dve"] = "you'd've", ["youll"] = "you'll", ["youre"] = "you're", ["youve"] = "you've",
    };

    /// <summary>The official <c>manualMap</c>: number words to digits ("none" → "0").</summary>
    public static readonly IReadOnlyDictionary<string, string> NumberWords = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["none"] = "0", ["zero"] = "0", ["one"] = "1", ["two"] = "2", ["three"] = "3", ["four"] = "4",
        ["five"] = "5", ["six"] = "6", ["seven"] = "7", ["eight"] = "8", ["nine"] = "9", ["ten"] = "10",
    };

    static readonly HashSet<string> Articles = new(StringComparer.Ordinal) { "a", "an", "the" };

    /// <summary>The official punctuation list, in its order (no apostrophe, no ':').</summary>
    public static readonly IReadOnlyList<string> Punctuation =
        [";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"];

    static readonly Regex PeriodStrip = new(@"(?!<=\d)(\.)(?!\d)", RegexOptions.CultureInvariant);
    static readonly Regex CommaStrip = new(@"(\d)(\,)(\d)", RegexOptions.CultureInvariant);
    const int PeriodStripCount = 32; // re.UNICODE passed as count in the official call

    /// <summary>Python's <c>str.isspace</c>: the characters <c>strip()</c> and <c>split()</c> treat as whitespace.</summary>
    public static bool IsPythonSpace(char c) =>
        c is ' ' or (>= '\t' and <= '\r') or (>= '\x1c' and <= '\x1f') or '\x85' or '\xa0' or '\u1680'
            or (>= '\u2000' and <= '\u200a') or '\u2028' or '\u2029' or '\u202f' or '\u205f' or '\u3000';

    /// <summary>'\n' and '\t' → ' ', then Python's <c>strip()</c>: what every answer gets first.</summary>
    public static string Clean(string answer)
    {
        string s = answer.Replace('\n', ' ').Replace('\t', ' ');
        int start = 0, end = s.Length;
        while (start < end && IsPythonSpace(s[start])) start++;
        while (end > start && IsPythonSpace(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary>The official <c>processPunctuation</c>.</summary>
    public static string ProcessPunctuation(string inText)
    {
        string outText = inText;
        bool digitComma = CommaStrip.IsMatch(inText);
        foreach (string p in Punctuation)
        {
            bool touchesSpace = inText.Contains(p + " ", StringComparison.Ordinal) || inText.Contains(" " + p, StringComparison.Ordinal);
            outText = outText.Replace(p, touchesSpace || digitComma ? "" : " ", StringComparison.Ordinal);
        }
        return PeriodStrip.Replace(outText, "", PeriodStripCount);
    }

    /// <summary>The official <c>processDigitArticle</c>: lowercase, split, number words → digits, drop articles, contractions.</summary>
    public static string ProcessDigitArticle(string inText)
    {
        var words = new List<string>();
        foreach (string raw in SplitPython(inText.ToLowerInvariant()))
        {
            string word = NumberWords.TryGetValue(raw, out string? digit) ? digit : raw;
            if (!Articles.Contains(word)) words.Add(word);
        }
        for (int i = 0; i < words.Count; i++)
            if (Contractions.TryGetValue(words[i], out string? full)) words[i] = full;
        return string.Join(' ', words);
    }

    /// <summary>Both processing steps, as applied when the human answers differ.</summary>
    public static string Normalize(string cleaned) => ProcessDigitArticle(ProcessPunctuation(cleaned));

    static IEnumerable<string> SplitPython(string s)
    {
        int i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && IsPythonSpace(s[i])) i++;
            int start = i;
            while (i < s.Length && !IsPythonSpace(s[i])) i++;
            if (i > start) yield return s[start..i];
        }
    }

    /// <summary>
    /// VQA accuracy in [0, 1] of one prediction against the human answers (10 in VQAv2), each human answer
    /// a distinct record. With <paramref name="useExtractor"/> the prediction first goes through
    /// <see cref="AnswerExtractor.Extract"/>, as DEEM does (<c>use_extract_answer=True</c>).
    /// </summary>
    public static double Score(string prediction, IReadOnlyList<string> humanAnswers, bool useExtractor = false)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        return Score(useExtractor ? AnswerExtractor.Extract(prediction) : prediction, humanAnswers,
            Enumerable.Range(0, humanAnswers.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
    }

    /// <summary>
    /// The official per-question accuracy. <paramref name="answerRecords"/> holds, per human answer, the rest of
    /// its annotation record (answer_id, answer_confidence): the official code leaves out every record equal to
    /// the left-out one (dict equality), which with the real files' distinct answer_ids is exactly one.
    /// </summary>
    public static double Score(string prediction, IReadOnlyList<string> humanAnswers, IReadOnlyList<string> answerRecords)
    {
        if (humanAnswers.Count == 0) throw new ArgumentException("No human answers.", nameof(humanAnswers));
        if (answerRecords.Count != humanAnswers.Count) throw new ArgumentException("One record per human answer.", nameof(answerRecords));
        string res = Clean(prediction);
        string[] gts = humanAnswers.Select(Clean).ToArray();
        if (gts.Distinct(StringComparer.Ordinal).Skip(1).Any())
        {
            gts = gts.Select(Normalize).ToArray();
            res = Normalize(res);
        }
        double sum = 0;
        for (int leaveOut = 0; leaveOut < gts.Length; leaveOut++)
        {
            int matches = 0;
            for (int j = 0; j < gts.Length; j++)
            {
                bool sameRecord = gts[j] == gts[leaveOut] && answerRecords[j] == answerRecords[leaveOut];
                if (!sameRecord && gts[j] == res) matches++;
            }
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
