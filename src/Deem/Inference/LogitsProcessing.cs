using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// The per-step score processing of HF <c>generate</c> that DEEM's settings switch on (reference §4.1),
/// in HF's order: repetition penalty, minimum length (stop tokens masked), then for sampling the
/// warpers temperature, top-k and top-p. All functions take and return scores [B, V] (float).
/// </summary>
public static class LogitsProcessing
{
    /// <summary>
    /// HF <c>RepetitionPenaltyLogitsProcessor</c>: for every distinct token already generated in row b,
    /// its score s becomes s/p when s &gt; 0 and s·p otherwise.
    /// </summary>
    /// <param name="scores">[B, V].</param>
    /// <param name="history">Per row, the tokens generated so far.</param>
    /// <param name="penalty">p (1 = off).</param>
    public static Tensor RepetitionPenalty(Tensor scores, IReadOnlyList<IReadOnlyList<long>> history, double penalty)
    {
        if (penalty == 1.0 || history.All(h => h.Count == 0)) return scores.alias();
        using var scope = NewDisposeScope();
        var (B, V) = (scores.shape[0], scores.shape[1]);
        // One index per (row, distinct token); rows without history point at their own token 0 with weight 0.
        var rows = new List<long>();
        var cols = new List<long>();
        for (int b = 0; b < B; b++)
            foreach (var t in history[b].Distinct())
            {
                rows.Add(b);
                cols.Add(t);
            }
        var flatIndex = tensor(rows.Zip(cols, (r, c) => r * V + c).ToArray(), device: scores.device);   // [K]
        var flat = scores.reshape(B * V).clone();                                                     // [B·V]
        var s = flat.index_select(0, flatIndex);                                                      // [K]
        var penalised = where(s.gt(0), s / penalty, s * penalty);                                     // [K]
        flat = flat.index_copy(0, flatIndex, penalised);
        return flat.view(B, V).MoveToOuterDisposeScope();                                             // [B, V]
    }

    /// <summary>Sets the stop tokens' scores to −∞ in the rows that generated fewer than <paramref name="minNewTokens"/> tokens.</summary>
    public static Tensor MinNewTokens(Tensor scores, int generated, int minNewTokens, IReadOnlyCollection<long> stopTokens)
    {
        if (generated >= minNewTokens || stopTokens.Count == 0) return scores.alias();
        return Suppress(scores, stopTokens);
    }

    /// <summary>Sets the scores of <paramref name="tokens"/> to −∞ in every row.</summary>
    public static Tensor Suppress(Tensor scores, IEnumerable<long> tokens)
    {
        using var scope = NewDisposeScope();
        var idx = tensor(tokens.ToArray(), device: scores.device);                                    // [K]
        var result = scores.index_fill(1, idx, double.NegativeInfinity);                              // [B, V]
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>HF sampling warpers: temperature, then top-k, then top-p (each off at its neutral value).</summary>
    public static Tensor Warp(Tensor scores, double temperature, int topK, double topP)
    {
        using var scope = NewDisposeScope();
        var s = temperature == 1.0 ? scores : scores / temperature;                                   // [B, V]
        if (topK > 0 && topK < s.shape[1]) s = TopK(s, topK);
        if (topP < 1.0) s = TopP(s, topP);
        return s.MoveToOuterDisposeScope();
    }

    /// <summary>HF <c>TopKLogitsWarper</c>: scores below the k-th largest become −∞.</summary>
    public static Tensor TopK(Tensor scores, int k)
    {
        using var scope = NewDisposeScope();
        var kth = scores.topk(k, dim: -1).values.narrow(1, k - 1, 1);                                  // [B, 1]
        return scores.masked_fill(scores.lt(kth), double.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// HF <c>TopPLogitsWarper</c>: sort ascending, drop the tokens whose cumulative probability is
    /// ≤ 1 − top_p (the least likely tail), always keeping the most likely token.
    /// </summary>
    public static Tensor TopP(Tensor scores, double topP)
    {
        using var scope = NewDisposeScope();
        var V = scores.shape[1];
        var (sorted, order) = scores.sort(dim: -1, descending: false);                                // [B, V] ascending
        var cumulative = sorted.softmax(-1).cumsum(-1);                                                // [B, V]
        var removeSorted = cumulative.le(1.0 - topP);                                                  // [B, V]
        removeSorted.index_fill_(1, tensor(new long[] { V - 1 }, device: scores.device), false);      // keep the top token
        var remove = removeSorted.scatter(1, order, removeSorted);                                     // back to vocabulary order
        return scores.masked_fill(remove, double.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One token per row drawn from softmax(scores) with <paramref name="generator"/>, a host generator: the
    /// draw is made on the CPU, so a seed gives the same tokens whatever device the model runs on.
    /// </summary>
    public static long[] Sample(Tensor scores, Generator generator)
    {
        using var scope = NewDisposeScope();
        var probs = scores.to_type(ScalarType.Float32).softmax(-1).cpu();                             // [B, V]
        var draw = multinomial(probs, 1, replacement: false, generator: generator);                   // [B, 1]
        return draw.reshape(-1).cpu().data<long>().ToArray();
    }

    /// <summary>The most likely token of each row.</summary>
    public static long[] Greedy(Tensor scores)
    {
        using var scope = NewDisposeScope();
        return scores.argmax(-1).cpu().data<long>().ToArray();
    }
}
