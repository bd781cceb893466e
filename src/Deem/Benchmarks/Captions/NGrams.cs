namespace Deem.Benchmarks;

/// <summary>N-gram counting shared by BLEU and CIDEr-D (pycocoevalcap's <c>precook</c>).</summary>
public static class NGrams
{
    /// <summary>Whitespace-split words of a tokenised caption (Python <c>s.split()</c>).</summary>
    public static string[] Words(string s) => s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Counts of all 1…<paramref name="n"/>-grams; an n-gram is its words joined by single spaces.</summary>
    public static Dictionary<string, int> Count(string[] words, int n)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 1; k <= n; k++)
            for (int i = 0; i + k <= words.Length; i++)
            {
                string g = string.Join(' ', words, i, k);
                counts[g] = counts.GetValueOrDefault(g) + 1;
            }
        return counts;
    }

    /// <summary>The order (number of words) of an n-gram key.</summary>
    public static int Order(string ngram)
    {
        int n = 1;
        foreach (char c in ngram) if (c == ' ') n++;
        return n;
    }
}
