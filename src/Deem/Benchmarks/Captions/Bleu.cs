namespace Deem.Benchmarks;

/// <summary>
/// Corpus BLEU-1…4 as pycocoevalcap's <c>bleu_scorer.py</c> with option "closest" (reference §6.4):
/// clipped n-gram matches and guesses are summed over the corpus; the effective reference length of
/// each candidate is the reference length closest to it (the shorter one on a tie); the brevity
/// penalty exp(1 − r/c) applies when the summed candidate length c is below the summed r. The scorer's
/// smoothing constants are kept: every precision is (matches + 1e-15) / (guesses + 1e-9).
/// </summary>
public static class Bleu
{
    const double Tiny = 1e-15, Small = 1e-9;

    /// <summary>BLEU-1…<paramref name="n"/> of tokenised candidates against tokenised references.</summary>
    public static double[] Corpus(IReadOnlyList<(string Candidate, IReadOnlyList<string> References)> items, int n = 4)
    {
        if (items.Count == 0) throw new ArgumentException("No items to score.", nameof(items));
        var guess = new double[n];
        var correct = new double[n];
        double testLen = 0, refLen = 0;
        foreach (var (candidate, references) in items)
        {
            if (references.Count == 0) throw new ArgumentException("Every candidate needs at least one reference.", nameof(items));
            // refs: lengths and the max count of each n-gram over the references
            var maxRef = new Dictionary<string, int>(StringComparer.Ordinal);
            var refLens = new List<int>();
            foreach (string r in references)
            {
                string[] rw = NGrams.Words(r);
                refLens.Add(rw.Length);
                foreach (var (g, c) in NGrams.Count(rw, n))
                    maxRef[g] = Math.Max(maxRef.GetValueOrDefault(g), c);
            }
            string[] w = NGrams.Words(candidate);
            int len = w.Length;
            testLen += len;
            refLen += refLens.OrderBy(l => Math.Abs(l - len)).ThenBy(l => l).First(); // min((|l − c|, l))[1]
            for (int k = 0; k < n; k++) guess[k] += Math.Max(0, len - k);
            foreach (var (g, c) in NGrams.Count(w, n))
                correct[NGrams.Order(g) - 1] += Math.Min(maxRef.GetValueOrDefault(g), c);
        }

        var bleus = new double[n];
        double ratio = (testLen + Tiny) / (refLen + Small);
        for (int nn = 1; nn <= n; nn++)
        {
            double b = 1;
            for (int k = 0; k < nn; k++) b *= (correct[k] + Tiny) / (guess[k] + Small);
            b = Math.Pow(b, 1.0 / nn);
            if (ratio < 1) b *= Math.Exp(1 - 1 / ratio);
            bleus[nn - 1] = b;
        }
        return bleus;
    }
}
