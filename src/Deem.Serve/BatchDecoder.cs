using Deem.Inference;
using Deem.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Serve;

/// <summary>One row of a decoding batch: its prompt, its own settings, and where its tokens go.</summary>
/// <param name="Prompt">The prompt.</param>
/// <param name="Options">Its decoding settings (greedy or sampling; beam search is not served).</param>
/// <param name="Cancel">When set, the row stops (its client left).</param>
/// <param name="OnToken">Receives each token; returns false to end the row (a stop string was found).</param>
public sealed record DecodeRow(InterleavedPrompt Prompt, GenerationOptions Options, CancellationToken Cancel, Func<GeneratedToken, bool> OnToken);

/// <summary>
/// Greedy / sampling decoding of rows with different settings in one left-padded batch over one
/// KV-cached <see cref="DecoderSession"/> (reference §4.1 batching): every step runs the model once
/// for the whole batch, then each row picks its token with its own processing — its temperature,
/// top-p, min tokens, and a generator seeded by its own seed, so a row's sampled answer does not
/// depend on its batch-mates. A row that stops, or whose client is gone, is fed pad until the batch
/// ends; the batch ends when every row has.
/// </summary>
public static class BatchDecoder
{
    /// <summary>max_new_tokens of a row alone: its own limit, clipped to the context after its prompt.</summary>
    public static int Budget(DecodeRow row, int maxContext) => Math.Min(row.Options.MaxNewTokens, maxContext - row.Prompt.Ids.Count);

    /// <summary>Whether rows fit one batch without clipping any row's budget (longest prompt + budget ≤ context for all).</summary>
    public static bool Fits(IEnumerable<DecodeRow> rows, int maxContext)
    {
        var list = rows.ToList();
        int longest = list.Max(r => r.Prompt.Ids.Count);
        return list.All(r => longest + Budget(r, maxContext) <= maxContext);
    }

    public static void Run(DeemModel model, IReadOnlyList<DecodeRow> rows, int maxContext)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tokens = model.Tokens;
        using var batch = PromptBatch.Create(rows.Select(r => r.Prompt).ToList(), tokens, model.Config.ImageTokens);
        using var session = DecoderSession.Start(model, batch, useCache: true);
        int B = rows.Count;
        var budget = rows.Select(r => Math.Min(r.Options.MaxNewTokens, maxContext - (int)batch.Length)).ToArray();
        var generators = rows.Select(r => r.Options.DoSample ? new Generator(r.Options.Seed) : null).ToArray();
        var finished = new bool[B];
        long[] stopSet = [tokens.Eos, tokens.Soi];
        try
        {
            for (int step = 0; ; step++)
            {
                for (int b = 0; b < B; b++)
                    if (step >= budget[b] || rows[b].Cancel.IsCancellationRequested) finished[b] = true;
                if (finished.All(f => f)) return;
                var next = new long[B];
                using (NewDisposeScope())
                {
                    var scores = LogitsProcessing.Suppress(session.Logits, [tokens.Image]);                 // [B, V]
                    for (int b = 0; b < B; b++)
                    {
                        if (finished[b]) { next[b] = tokens.Pad; continue; }
                        var o = rows[b].Options;
                        var row = LogitsProcessing.MinNewTokens(scores.narrow(0, b, 1), step, o.MinNewTokens, stopSet); // [1, V]
                        next[b] = o.DoSample
                            ? LogitsProcessing.Sample(LogitsProcessing.Warp(row, o.Temperature, o.TopK, o.TopP), generators[b]!)[0]
                            : LogitsProcessing.Greedy(row)[0];
                    }
                }
                for (int b = 0; b < B; b++)
                {
                    if (finished[b]) continue;
                    StopReason? stop = next[b] == tokens.Eos ? StopReason.EndOfText
                        : next[b] == tokens.Soi ? StopReason.StartOfImage
                        : step == budget[b] - 1 ? StopReason.MaxTokens : null;
                    bool more = rows[b].OnToken(new GeneratedToken(b, step, next[b], stop));
                    if (stop is not null || !more) finished[b] = true;
                    if (stop is StopReason.EndOfText or StopReason.StartOfImage) next[b] = tokens.Pad;
                }
                if (finished.All(f => f)) return;
                session.Append(next);
            }
        }
        finally
        {
            foreach (var g in generators) g?.Dispose();
        }
    }
}
