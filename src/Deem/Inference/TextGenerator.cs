using Deem.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// Autoregressive text generation over interleaved prompts (paper §2.3 inference; reference §4.1):
/// any number of images anywhere in each prompt, batched with left padding, decoded greedily, by
/// nucleus/temperature sampling with a seeded generator, or by beam search (<see cref="BeamSearch"/>),
/// until <c>&lt;/s&gt;</c> or <c>&lt;soi&gt;</c> (DEEM's <c>eos_token_id = [2, 32000]</c>). The image
/// placeholder <c>&lt;|sniffer|&gt;</c> is never emitted (it is only ever written by the prompt builder).
/// Finished rows are fed the pad id until the whole batch is done; their outputs are ignored.
/// </summary>
public sealed class TextGenerator
{
    readonly DeemModel model;

    /// <param name="model">The model (switched to eval mode).</param>
    /// <param name="maxContext">The longest prompt + generation allowed; defaults to max_position_embeddings.</param>
    public TextGenerator(DeemModel model, int? maxContext = null)
    {
        this.model = model;
        model.eval();
        var limit = model.Config.Llm.MaxPositionEmbeddings;
        MaxContext = maxContext is int m ? Math.Min(m, limit) : limit;
        MaxContextName = maxContext is int c && c < limit ? "the configured maximum context" : "max_position_embeddings";
    }

    public DeemModel Model => model;

    /// <summary>Prompt plus generated tokens may not exceed this.</summary>
    public int MaxContext { get; }

    string MaxContextName { get; }

    /// <summary>The tokens that end text: <c>&lt;/s&gt;</c> and <c>&lt;soi&gt;</c>.</summary>
    public long[] StopTokens => [model.Tokens.Eos, model.Tokens.Soi];

    /// <summary>Generates for every prompt of the batch.</summary>
    public GenerationResult[] Generate(IReadOnlyList<InterleavedPrompt> prompts, GenerationOptions options)
    {
        options.Validate();
        using var batch = PromptBatch.Create(prompts, model.Tokens, model.Config.ImageTokens);
        int maxNew = NewTokenBudget(batch, options);
        using var session = DecoderSession.Start(model, batch, options.UseCache);
        if (options.NumBeams > 1)
            return BeamSearch.Run(session, options with { MaxNewTokens = maxNew }, StopTokens, model.Tokens);
        var results = new List<long>[prompts.Count].Select(_ => new List<long>()).ToArray();
        var stops = new StopReason?[prompts.Count];
        var scores = new double[prompts.Count];
        foreach (var step in Steps(session, options with { MaxNewTokens = maxNew }))
        {
            results[step.Row].Add(step.Token.Id);
            scores[step.Row] += step.LogProb;
            if (step.Token.Stop is StopReason s) stops[step.Row] = s;
        }
        return results.Select((r, b) => new GenerationResult(r.ToArray(), stops[b] ?? StopReason.MaxTokens, scores[b])).ToArray();
    }

    /// <summary>Generates for one prompt.</summary>
    public GenerationResult Generate(InterleavedPrompt prompt, GenerationOptions options) => Generate([prompt], options)[0];

    /// <summary>
    /// The tokens of one prompt as they are produced (greedy or sampling; beam search yields its best
    /// hypothesis when the search ends, since beams can still be reordered until then).
    /// </summary>
    public IEnumerable<GeneratedToken> Stream(InterleavedPrompt prompt, GenerationOptions options)
    {
        options.Validate();
        if (options.NumBeams > 1)
        {
            var r = Generate(prompt, options);
            for (int i = 0; i < r.Tokens.Length; i++)
                yield return new GeneratedToken(0, i, r.Tokens[i], i == r.Tokens.Length - 1 ? r.Stop : null);
            yield break;
        }
        using var batch = PromptBatch.Create([prompt], model.Tokens, model.Config.ImageTokens);
        int maxNew = NewTokenBudget(batch, options);
        using var session = DecoderSession.Start(model, batch, options.UseCache);
        foreach (var step in Steps(session, options with { MaxNewTokens = maxNew }))
            yield return step.Token;
    }

    /// <summary><see cref="Stream"/> as an async sequence (tokens are produced on the consumer's thread).</summary>
    public IAsyncEnumerable<GeneratedToken> StreamAsync(InterleavedPrompt prompt, GenerationOptions options) =>
        Stream(prompt, options).ToAsyncEnumerable();

    /// <summary>max_new_tokens clipped to the context; throws when the prompt alone does not fit.</summary>
    int NewTokenBudget(PromptBatch batch, GenerationOptions options)
    {
        int longest = batch.Rows.Max(r => r.Length);
        if (batch.Length >= MaxContext)
            throw new PromptTooLongException(longest, MaxContext, MaxContextName);
        return (int)Math.Min(options.MaxNewTokens, MaxContext - batch.Length);
    }

    readonly record struct Step(int Row, GeneratedToken Token, double LogProb);

    /// <summary>Greedy / sampling decode loop; yields each unfinished row's token every step.</summary>
    IEnumerable<Step> Steps(DecoderSession session, GenerationOptions options)
    {
        var tokens = model.Tokens;
        int B = (int)session.BatchSize;
        var history = Enumerable.Range(0, B).Select(_ => new List<long>()).ToArray();
        var finished = new bool[B];
        var stopSet = StopTokens;
        var generator = options.DoSample ? new Generator(options.Seed) : null;
        try
        {
            for (int step = 0; step < options.MaxNewTokens; step++)
            {
                long[] next;
                double[] logProbs;
                using (NewDisposeScope())
                {
                    var scores = LogitsProcessing.Suppress(session.Logits, [tokens.Image]);                  // [B, V]
                    scores = LogitsProcessing.RepetitionPenalty(scores, history, options.RepetitionPenalty);
                    scores = LogitsProcessing.MinNewTokens(scores, step, options.MinNewTokens, stopSet);
                    if (options.DoSample)
                    {
                        scores = LogitsProcessing.Warp(scores, options.Temperature, options.TopK, options.TopP);
                        next = LogitsProcessing.Sample(scores, generator!);
                    }
                    else next = LogitsProcessing.Greedy(scores);
                    var chosen = session.Logits.log_softmax(-1)
                        .gather(1, tensor(next, new long[] { B, 1 }, device: session.Logits.device));    // [B, 1] under the model
                    logProbs = chosen.reshape(-1).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
                }

                var steps = new List<Step>();
                for (int b = 0; b < B; b++)
                {
                    if (finished[b]) { next[b] = tokens.Pad; continue; }
                    history[b].Add(next[b]);
                    StopReason? stop = next[b] == tokens.Eos ? StopReason.EndOfText
                        : next[b] == tokens.Soi ? StopReason.StartOfImage
                        : step == options.MaxNewTokens - 1 ? StopReason.MaxTokens : null;
                    if (stop is not null) finished[b] = true;
                    steps.Add(new Step(b, new GeneratedToken(b, step, next[b], stop), logProbs[b]));
                    // A stopping token is not fed: the row is done and receives pad from now on.
                    if (stop is StopReason.EndOfText or StopReason.StartOfImage) next[b] = tokens.Pad;
                }
                foreach (var s in steps) yield return s;
                if (finished.All(f => f)) yield break;
                session.Append(next);
            }
        }
        finally
        {
            generator?.Dispose();
        }
    }
}
