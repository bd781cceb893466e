namespace Deem.Benchmarks;

/// <summary>
/// The short-answer extractor of DEEM's evaluation (reference §6.1 steps 1–5; the authors'
/// <c>extract_answer</c> in <c>utils/vqa_score.py</c> followed by the clean-up of
/// <c>utils/imagenet_score.py</c>). RobustVQA, POPE (DEEM's accuracy) and the VQA benchmarks all pass
/// the generated text through it before matching.
/// </summary>
/// <remarks>
/// The rules are ported with Python's string semantics, quirks included, so our numbers match the
/// authors' scorer on the same generations:
/// <list type="number">
/// <item>remove every <c>"</c>; strip; keep the first line (split on <c>\n</c>); cut at the first
/// '.', then at the first ',', then at the first '!'; lowercase;</item>
/// <item>for each marker "is ", "are ", "a ", "an ", "the " in turn, if the marker occurs anywhere
/// (also inside a word: "this " contains "is "), replace the text by <c>text.split(marker)[1]</c>,
/// i.e. the part between the first and the second occurrence of the marker, not everything after the
/// first one ("this is a cat" → split("is ") = ["th", "", "a cat"] → "");</item>
/// <item>cut before the first " of", then before the first " or ", then before the first " and ";
/// strip;</item>
/// <item>replace ':', '[' and ']' by spaces;</item>
/// <item>compare after replacing tabs/newlines by spaces and stripping, case-insensitively.</item>
/// </list>
/// </remarks>
public static class AnswerExtractor
{
    static readonly string[] KeepAfter = ["is ", "are ", "a ", "an ", "the "];
    static readonly string[] CutBefore = [" of", " or ", " and "];

    /// <summary>Steps 1–3: the authors' <c>extract_answer</c>.</summary>
    public static string Extract(string response)
    {
        ArgumentNullException.ThrowIfNull(response);
        string s = response.Replace("\"", "");
        s = PyStrip(s);
        s = FirstPart(s, "\n");
        s = FirstPart(s, ".");
        s = FirstPart(s, ",");
        s = FirstPart(s, "!");
        s = s.ToLowerInvariant();
        foreach (string marker in KeepAfter)
            s = SecondPart(s, marker);
        foreach (string marker in CutBefore)
            s = FirstPart(s, marker);
        return PyStrip(s);
    }

    /// <summary>Steps 1–4: <see cref="Extract"/> then ':', '[' and ']' become spaces (RobustVQA / POPE scoring).</summary>
    public static string ExtractForMatch(string response) =>
        Extract(response).Replace(':', ' ').Replace('[', ' ').Replace(']', ' ');

    /// <summary>Step 5: whether a generated answer matches the ground truth (after extraction).</summary>
    public static bool Matches(string response, string groundTruth, bool useExtractor = true)
    {
        string pred = useExtractor ? ExtractForMatch(response) : response.Replace(':', ' ').Replace('[', ' ').Replace(']', ' ');
        // gt_answer.lower() == pred_answer.lower()
        return string.Equals(CleanForCompare(pred).ToLowerInvariant(), CleanForCompare(groundTruth).ToLowerInvariant(), StringComparison.Ordinal);
    }

    /// <summary>Accuracy in percent of <paramref name="responses"/> against <paramref name="groundTruths"/> (same order).</summary>
    public static double AccuracyPercent(IReadOnlyList<string> responses, IReadOnlyList<string> groundTruths, bool useExtractor = true)
    {
        if (responses.Count != groundTruths.Count)
            throw new ArgumentException($"responses has {responses.Count} items, groundTruths has {groundTruths.Count}.");
        if (responses.Count == 0) throw new ArgumentException("No items to score.", nameof(responses));
        int hits = 0;
        for (int i = 0; i < responses.Count; i++)
            if (Matches(responses[i], groundTruths[i], useExtractor)) hits++;
        return 100.0 * hits / responses.Count;
    }

    // replace('\n', ' ').replace('\t', ' ').strip() of imagenet_score.py
    static string CleanForCompare(string s) => PyStrip(s.Replace('\n', ' ').Replace('\t', ' '));

    /// <summary>Python's <c>s.split(sep)[0]</c>: the text before the first <paramref name="sep"/> (all of it if absent).</summary>
    internal static string FirstPart(string s, string sep)
    {
        int i = s.IndexOf(sep, StringComparison.Ordinal);
        return i < 0 ? s : s[..i];
    }

    /// <summary>
    /// Python's <c>if sep in s: s = s.split(sep)[1]</c>: the text between the first and the second
    /// occurrence of <paramref name="sep"/> (to the end when there is no second one).
    /// </summary>
    internal static string SecondPart(string s, string sep)
    {
        int i = s.IndexOf(sep, StringComparison.Ordinal);
        if (i < 0) return s;
        string rest = s[(i + sep.Length)..];
        int j = rest.IndexOf(sep, StringComparison.Ordinal);
        return j < 0 ? rest : rest[..j];
    }

    /// <summary>Python's argument-less <c>str.strip()</c> (Unicode whitespace on both ends).</summary>
    internal static string PyStrip(string s) => s.Trim();
}
