namespace Deem.World.Benchmarks;

/// <summary>Two images of a pool mined as a CLIP-blind pair, with their CLIP cosine similarity.</summary>
public sealed record MinedPair(int First, int Second, double Similarity);

/// <summary>
/// CLIP-blind pair mining as MMVP did it (Tong et al., 2024, §2: pairs of images that CLIP embeds
/// almost alike although they differ visibly): among images asked the same question, pairs whose
/// answers differ are ranked by the cosine similarity of their CLIP image embeddings, and the most
/// similar are kept, each image in at most one pair. MMVP also required a low DINOv2 similarity to
/// make sure the images really differ; the world needs no second encoder for that, because two
/// images with different answers to the same question differ by construction.
/// </summary>
public static class ClipBlindPairs
{
    /// <summary>Cosine similarity of every pair of rows: [N, E] → [N][N].</summary>
    public static double[][] CosineMatrix(IReadOnlyList<float[]> embeddings)
    {
        var unit = embeddings.Select(e =>
        {
            double norm = Math.Sqrt(e.Sum(x => (double)x * x));
            return e.Select(x => norm > 0 ? x / norm : 0.0).ToArray();
        }).ToArray();
        return unit.Select(a => unit.Select(b => a.Zip(b, (x, y) => x * y).Sum()).ToArray()).ToArray();
    }

    /// <summary>
    /// Greedy mining over a pool: candidate pairs (i, j), i &lt; j, with the same <paramref name="questions"/>
    /// entry, different <paramref name="answers"/> and similarity ≥ <paramref name="minSimilarity"/>, taken in
    /// order of decreasing similarity (ties: smaller i, then smaller j), skipping any whose image is already
    /// used, until <paramref name="count"/> pairs are taken. Deterministic; no randomness.
    /// </summary>
    public static IReadOnlyList<MinedPair> Mine(double[][] similarity, IReadOnlyList<string> questions, IReadOnlyList<string> answers,
        int count, double minSimilarity = double.NegativeInfinity)
    {
        int n = similarity.Length;
        if (questions.Count != n || answers.Count != n)
            throw new ArgumentException($"similarity has {n} rows, questions {questions.Count}, answers {answers.Count}; they must agree.");
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "must not be negative");
        var candidates = new List<MinedPair>();
        for (int i = 0; i < n; i++)
        {
            if (similarity[i].Length != n) throw new ArgumentException($"similarity row {i} has {similarity[i].Length} entries, not {n}.", nameof(similarity));
            for (int j = i + 1; j < n; j++)
                if (questions[i] == questions[j] && answers[i] != answers[j] && similarity[i][j] >= minSimilarity)
                    candidates.Add(new MinedPair(i, j, similarity[i][j]));
        }
        var ordered = candidates.OrderByDescending(p => p.Similarity).ThenBy(p => p.First).ThenBy(p => p.Second);
        var used = new HashSet<int>();
        var taken = new List<MinedPair>();
        foreach (var p in ordered)
        {
            if (taken.Count >= count) break;
            if (used.Contains(p.First) || used.Contains(p.Second)) continue;
            used.Add(p.First);
            used.Add(p.Second);
            taken.Add(p);
        }
        return taken;
    }
}
