using System.Diagnostics;
using Deem.Model;

namespace Deem.Inference;

/// <summary>One batched greedy decode: the tokens of every row and the time of the steps after the first token.</summary>
/// <param name="Batch">Rows decoded together.</param>
/// <param name="Tokens">Per row, the first token (from the prefill) and one token per timed step.</param>
/// <param name="PrefillSeconds">Visual tokenizer, prefill of the one prompt, its copies and the first token.</param>
/// <param name="Steps">Timed decode steps.</param>
/// <param name="StepSeconds">Their time.</param>
public sealed record BatchDecodeResult(int Batch, long[][] Tokens, double PrefillSeconds, int Steps, double StepSeconds)
{
    /// <summary>Decoded tokens per second, all rows together.</summary>
    public double TokensPerSecond => (double)Batch * Steps / StepSeconds;
}

/// <summary>
/// Greedy decoding of <c>batch</c> copies of one prompt through a <see cref="DecoderSession"/> with the
/// KV cache (every row reads the same weights per step, so batched decode is what the memory roofline
/// rewards): the decode half of the paper-scale benchmark at batch &gt; 1. The prompt is prefilled once
/// and its row (cache included) repeated, so the prefill costs what batch 1's does.
/// </summary>
public static class BatchDecode
{
    /// <summary>Decodes <paramref name="steps"/> tokens per row after the first one, <paramref name="batch"/> copies of <paramref name="prompt"/> at once.</summary>
    public static BatchDecodeResult Run(DeemModel model, InterleavedPrompt prompt, int batch, int steps)
    {
        if (batch < 1) throw new DeemConfigException("--decode-batch", "decode_batch", $"must be >= 1, found {batch}");
        if (steps < 1) throw new DeemConfigException("--decode-tokens", "decode_tokens", $"must be >= 1, found {steps}");
        model.eval();
        using var prompts = PromptBatch.Create([prompt], model.Tokens, model.Config.ImageTokens);
        var sw = Stopwatch.StartNew();
        using var session = DecoderSession.Start(model, prompts, useCache: true);
        session.SelectRows(new long[batch]);                                              // the prefilled row, batch times
        var next = LogitsProcessing.Greedy(session.Logits);                                   // [B] first tokens
        double prefill = sw.Elapsed.TotalSeconds;
        var rows = Enumerable.Range(0, batch).Select(b => new List<long> { next[b] }).ToArray();
        sw.Restart();
        for (int i = 0; i < steps; i++)
        {
            session.Append(next);
            next = LogitsProcessing.Greedy(session.Logits);
            for (int b = 0; b < batch; b++) rows[b].Add(next[b]);
        }
        double seconds = sw.Elapsed.TotalSeconds;
        return new BatchDecodeResult(batch, rows.Select(r => r.ToArray()).ToArray(), prefill, steps, seconds);
    }
}
