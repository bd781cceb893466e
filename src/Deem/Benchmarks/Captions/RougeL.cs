namespace Deem.Benchmarks;

/// <summary>
/// ROUGE-L as pycocoevalcap's <c>rouge.py</c> (reference §6.4): per candidate, the LCS with each
/// reference gives precision LCS/|c| and recall LCS/|r|; the maxima over references (taken separately)
/// give F = (1 + β²)PR / (R + β²P) with β = 1.2; the corpus score is the mean over candidates. Tokens
/// come from <c>split(" ")</c>, so an empty caption is one empty token, as in the original.
/// </summary>
public static class RougeL
{
    /// <summary>β of the F-measure.</summary>
    public const double Beta = 1.2;

    /// <summary>Length of the longest common subsequence of two token lists.</summary>
    public static int Lcs(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var prev = new int[b.Count + 1];
        var cur = new int[b.Count + 1];
        for (int i = 1; i <= a.Count; i++)
        {
            for (int j = 1; j <= b.Count; j++)
                cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : Math.Max(prev[j], cur[j - 1]);
            (prev, cur) = (cur, prev);
        }
        return prev[b.Count];
    }

    /// <summary>ROUGE-L of one tokenised candidate against its tokenised references.</summary>
    public static double Score(string candidate, IReadOnlyList<string> references)
    {
        if (references.Count == 0) throw new ArgumentException("At least one reference is needed.", nameof(references));
        string[] c = candidate.Split(' ');
        double pMax = 0, rMax = 0;
        foreach (string reference in references)
        {
            string[] r = reference.Split(' ');
            int lcs = Lcs(r, c);
            pMax = Math.Max(pMax, (double)lcs / c.Length);
            rMax = Math.Max(rMax, (double)lcs / r.Length);
        }
        if (pMax == 0 || rMax == 0) return 0;
        double b2 = Beta * Beta;
        return (1 + b2) * pMax * rMax / (rMax + b2 * pMax);
    }

    /// <summary>Mean ROUGE-L over a corpus.</summary>
    public static double Corpus(IReadOnlyList<(string Candidate, IReadOnlyList<string> References)> items)
    {
        if (items.Count == 0) throw new ArgumentException("No items to score.", nameof(items));
        return items.Average(it => Score(it.Candidate, it.References));
    }
}
