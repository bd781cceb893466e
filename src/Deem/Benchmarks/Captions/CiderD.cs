namespace Deem.Benchmarks;

/// <summary>
/// CIDEr-D as pycocoevalcap's <c>cider_scorer.py</c> (the "CIDEr" of the COCO evaluation; reference
/// §6.4). For n = 1…4, captions become tf-idf vectors: weight = count × (log N − log max(1, df)), with
/// N the number of images and df the number of images whose references contain the n-gram. For each
/// reference, the n-gram similarity is Σ min(w_c, w_r)·w_r / (‖c‖‖r‖) (candidate weights clipped by the
/// reference's), times the Gaussian length penalty exp(−δ²/2σ²), σ = 6. The image score is the mean over
/// n of the mean over references, × 10; the corpus score is the mean over images.
/// </summary>
/// <remarks>
/// Kept from the original: the "length" in δ is the number of bigrams of a caption (the code counts
/// terms with <c>n == 1</c> on a 0-based order), i.e. words − 1 for a non-empty caption; a zero vector
/// norm gives a similarity of 0 (the Python 3 version's guard). With one image every weight is 0.
/// </remarks>
public static class CiderD
{
    /// <summary>Largest n-gram order.</summary>
    public const int N = 4;

    /// <summary>σ of the length penalty.</summary>
    public const double Sigma = 6.0;

    /// <summary>Per-image CIDEr-D scores and their mean.</summary>
    public static (double Mean, double[] PerImage) Corpus(IReadOnlyList<(string Candidate, IReadOnlyList<string> References)> items)
    {
        if (items.Count == 0) throw new ArgumentException("No items to score.", nameof(items));
        var refCounts = items.Select(it =>
        {
            if (it.References.Count == 0) throw new ArgumentException("Every candidate needs at least one reference.", nameof(items));
            return it.References.Select(r => NGrams.Count(NGrams.Words(r), N)).ToArray();
        }).ToArray();

        // document frequency over the references of each image
        var df = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var refs in refCounts)
            foreach (string g in refs.SelectMany(r => r.Keys).Distinct(StringComparer.Ordinal))
                df[g] = df.GetValueOrDefault(g) + 1;
        double logN = Math.Log(items.Count);

        var scores = new double[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            var (vec, norm, len) = Vector(NGrams.Count(NGrams.Words(items[i].Candidate), N), df, logN);
            var sum = new double[N];
            foreach (var refCount in refCounts[i])
            {
                var (rVec, rNorm, rLen) = Vector(refCount, df, logN);
                double delta = len - rLen;
                double penalty = Math.Exp(-(delta * delta) / (2 * Sigma * Sigma));
                for (int n = 0; n < N; n++)
                {
                    double val = 0;
                    foreach (var (g, w) in vec[n])
                    {
                        double wr = rVec[n].GetValueOrDefault(g);
                        val += Math.Min(w, wr) * wr;
                    }
                    if (norm[n] != 0 && rNorm[n] != 0) val /= norm[n] * rNorm[n];
                    else val = 0;
                    sum[n] += val * penalty;
                }
            }
            scores[i] = sum.Average() / refCounts[i].Length * 10.0;
        }
        return (scores.Average(), scores);
    }

    // tf-idf vectors per order, their norms, and the bigram count used as "length"
    static (Dictionary<string, double>[] Vec, double[] Norm, int Length) Vector(Dictionary<string, int> counts,
        Dictionary<string, int> df, double logN)
    {
        var vec = Enumerable.Range(0, N).Select(_ => new Dictionary<string, double>(StringComparer.Ordinal)).ToArray();
        var norm = new double[N];
        int length = 0;
        foreach (var (g, tf) in counts)
        {
            int n = NGrams.Order(g) - 1;
            double w = tf * (logN - Math.Log(Math.Max(1.0, df.GetValueOrDefault(g))));
            vec[n][g] = w;
            norm[n] += w * w;
            if (n == 1) length += tf;
        }
        for (int n = 0; n < N; n++) norm[n] = Math.Sqrt(norm[n]);
        return (vec, norm, length);
    }
}
