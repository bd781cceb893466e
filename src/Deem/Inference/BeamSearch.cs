using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// HF-style beam search (reference §4.1: DEEM's beam settings, with its patch that keeps
/// 1 + |stop set| candidates per beam). Each prompt's row is repeated into K beams (the KV cache
/// rows are copied, then reordered every step with <c>KvCache.SelectRows</c>); only beam 0 starts
/// live. Per step the scores are log-softmax, then the repetition penalty and the minimum length;
/// the (1 + |stop|)·K best continuations of all beams are scanned in order: a stop token among the
/// first K ranks closes a hypothesis scored Σ log p / n^length_penalty (n = generated tokens, the stop
/// included), any other token continues a beam until K are chosen. A prompt is done when it holds K
/// hypotheses and the best running beam cannot beat the worst of them (HF <c>early_stopping=False</c>);
/// at max_new_tokens the running beams join the hypotheses. The best hypothesis is returned.
/// </summary>
public static class BeamSearch
{
    sealed record Hypothesis(long[] Tokens, double Score, StopReason Stop);

    public static GenerationResult[] Run(DecoderSession session, GenerationOptions options, IReadOnlyList<long> stopTokens, SpecialTokens tokens)
    {
        int B = (int)session.BatchSize;
        int K = options.NumBeams;
        int candidates = (1 + stopTokens.Count) * K;
        session.SelectRows(Enumerable.Range(0, B * K).Select(r => (long)(r / K)).ToArray());
        var beamScores = Enumerable.Range(0, B * K).Select(r => r % K == 0 ? 0.0 : -1e9).ToArray();
        var beamTokens = Enumerable.Range(0, B * K).Select(_ => new List<long>()).ToArray();
        var hyps = Enumerable.Range(0, B).Select(_ => new List<Hypothesis>()).ToArray();
        var done = new bool[B];
        double Normalise(double sum, int length) => sum / Math.Pow(length, options.LengthPenalty);

        void AddHypothesis(int b, Hypothesis h)
        {
            var list = hyps[b];
            if (list.Count < K || h.Score > list.Min(x => x.Score))
            {
                list.Add(h);
                if (list.Count > K) list.Remove(list.MinBy(x => x.Score)!);
            }
        }

        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            float[] topValues;
            long[] topIndices;
            long V;
            using (NewDisposeScope())
            {
                var logp = session.Logits.log_softmax(-1);                                           // [B·K, V]
                V = logp.shape[1];
                logp = LogitsProcessing.Suppress(logp, [tokens.Image]);
                logp = LogitsProcessing.RepetitionPenalty(logp, beamTokens, options.RepetitionPenalty);
                logp = LogitsProcessing.MinNewTokens(logp, step, options.MinNewTokens, stopTokens.ToArray());
                var total = logp + tensor(beamScores, ScalarType.Float32, device: logp.device).unsqueeze(1);   // [B·K, V]
                var (values, indices) = total.reshape(B, K * V).topk(candidates, dim: 1);             // [B, 2K or 3K]
                topValues = values.cpu().contiguous().data<float>().ToArray();
                topIndices = indices.cpu().contiguous().data<long>().ToArray();
            }

            var sources = new long[B * K];
            var nextTokens = new long[B * K];
            var nextScores = new double[B * K];
            for (int b = 0; b < B; b++)
            {
                if (done[b])
                {
                    for (int k = 0; k < K; k++) { sources[b * K + k] = b * K; nextTokens[b * K + k] = tokens.Pad; }
                    continue;
                }
                int chosen = 0;
                for (int j = 0; j < candidates && chosen < K; j++)
                {
                    long flat = topIndices[b * candidates + j];
                    int beam = (int)(flat / V);
                    long token = flat % V;
                    double score = topValues[b * candidates + j];
                    int row = b * K + beam;
                    if (stopTokens.Contains(token))
                    {
                        if (j >= K) continue;
                        var stop = token == tokens.Eos ? StopReason.EndOfText : StopReason.StartOfImage;
                        AddHypothesis(b, new Hypothesis([.. beamTokens[row], token], Normalise(score, step + 1), stop));
                    }
                    else
                    {
                        sources[b * K + chosen] = row;
                        nextTokens[b * K + chosen] = token;
                        nextScores[b * K + chosen] = score;
                        chosen++;
                    }
                }
                double bestRunning = Enumerable.Range(0, K).Max(k => nextScores[b * K + k]);
                done[b] = hyps[b].Count >= K && hyps[b].Min(h => h.Score) >= Normalise(bestRunning, step + 1);
            }

            var reordered = sources.Select(r => beamTokens[r]).ToArray();
            for (int r = 0; r < B * K; r++)
            {
                beamTokens[r] = done[r / K] ? reordered[r] : [.. reordered[r], nextTokens[r]];
                beamScores[r] = done[r / K] ? beamScores[r] : nextScores[r];
            }
            if (done.All(d => d) || step == options.MaxNewTokens - 1) break;
            session.SelectRows(sources);
            session.Append(nextTokens);
        }

        for (int b = 0; b < B; b++)
            if (!done[b])
                for (int k = 0; k < K; k++)
                {
                    var toks = beamTokens[b * K + k];
                    if (toks.Count > 0) AddHypothesis(b, new Hypothesis(toks.ToArray(), Normalise(beamScores[b * K + k], toks.Count), StopReason.MaxTokens));
                }
        return hyps.Select(h =>
        {
            var best = h.MaxBy(x => x.Score)!;
            return new GenerationResult(best.Tokens, best.Stop, best.Score);
        }).ToArray();
    }
}
