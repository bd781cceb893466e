using System.Text.Json.Nodes;

namespace Deem.Benchmarks;

/// <summary>How a benchmark run asks the model and writes its predictions.</summary>
public sealed record EvalOptions
{
    /// <summary>Requests per call of an <see cref="IBatchedVqaModel"/> (1 for a plain <see cref="IVqaModel"/>).</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Flush every prediction to disk, not only to the operating system.</summary>
    public bool Durable { get; init; }

    /// <summary>Called after each batch with (items done, items in total).</summary>
    public Action<int, int>? Progress { get; init; }

    public static EvalOptions Default { get; } = new();
}

/// <summary>One question of a benchmark run.</summary>
/// <param name="Id">Stable id in the predictions file (unique within one file).</param>
/// <param name="ImagePath">Path the model reads the image from.</param>
/// <param name="Image">The image as the benchmark file names it (written to the predictions file).</param>
/// <param name="Prompt">The exact prompt (reference §6).</param>
/// <param name="Options">MMVP's options text, null for yes/no benchmarks.</param>
/// <param name="Label">The ground truth ("yes"/"no", or the correct option "(a)").</param>
public sealed record EvalItem(string Id, string ImagePath, string Image, string Prompt, string? Options, string Label);

/// <summary>The answers of a run in item order, and how many of them this call computed (the rest were in the file).</summary>
public sealed record AnsweredItems(IReadOnlyList<string> Answers, int Computed);

/// <summary>
/// The resumable answering loop shared by the benchmark runners (reference §6 evaluation reports): items
/// already in the predictions file (<see cref="PredictionLog"/>) are skipped, the others are asked in
/// batches and appended one line each as soon as they are answered, so a run killed at any point is
/// continued by running it again and ends with the same file content as an uninterrupted run. A file
/// written for different questions (an id unknown to this run or a different prompt) is refused.
/// </summary>
public static class PredictionRunner
{
    /// <summary>Answers every item not yet in <paramref name="predictionsPath"/>; <paramref name="judge"/>
    /// (optional) adds a "correct" field to each record for inspection.</summary>
    public static AnsweredItems Run(IVqaModel model, IReadOnlyList<EvalItem> items, string predictionsPath,
        EvalOptions? options = null, Func<EvalItem, string, bool>? judge = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= EvalOptions.Default;
        if (options.BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "BatchSize must be positive");
        var byId = new Dictionary<string, EvalItem>(StringComparer.Ordinal);
        foreach (var item in items)
            if (!byId.TryAdd(item.Id, item)) throw new ArgumentException($"Item id '{item.Id}' appears twice.", nameof(items));

        using var log = PredictionLog.Open(predictionsPath, "id", options.Durable);
        foreach (var record in log.Records)
        {
            string id = IdOf(record);
            if (!byId.TryGetValue(id, out var item))
                throw new DeemFormatException(predictionsPath, $"holds item '{id}', which this benchmark does not have; it belongs to another run.", "id");
            if (record["prompt"] is not JsonValue p || !p.TryGetValue(out string? prompt) || prompt != item.Prompt)
                throw new DeemFormatException(predictionsPath, $"item '{id}' was asked with a different prompt; it belongs to another run.", "prompt");
            if (record["answer"] is not JsonValue a || !a.TryGetValue(out string? _))
                throw new DeemFormatException(predictionsPath, $"item '{id}' has no string 'answer'.", "answer");
        }

        var pending = items.Where(i => !log.IsFinished(i.Id)).ToList();
        int batch = model is IBatchedVqaModel ? options.BatchSize : 1;
        int done = items.Count - pending.Count;
        for (int start = 0; start < pending.Count; start += batch)
        {
            var chunk = pending.Skip(start).Take(batch).ToList();
            IReadOnlyList<string> answers = model is IBatchedVqaModel batched && chunk.Count > 1
                ? batched.AnswerBatch(chunk.Select(i => new VqaRequest(i.ImagePath, i.Prompt, i.Options)).ToList())
                : chunk.Select(i => model.Answer(i.ImagePath, i.Prompt, i.Options)).ToList();
            if (answers.Count != chunk.Count)
                throw new InvalidOperationException($"The model returned {answers.Count} answers for {chunk.Count} requests.");
            for (int k = 0; k < chunk.Count; k++)
            {
                var item = chunk[k];
                string answer = answers[k] ?? throw new InvalidOperationException($"The model returned null for item '{item.Id}'.");
                var record = new JsonObject { ["image"] = item.Image, ["prompt"] = item.Prompt, ["label"] = item.Label, ["answer"] = answer };
                if (item.Options is not null) record["options"] = item.Options;
                if (judge is not null) record["correct"] = judge(item, answer);
                log.Append(item.Id, record);
            }
            done += chunk.Count;
            options.Progress?.Invoke(done, items.Count);
        }

        var answerOf = log.Records.ToDictionary(IdOf, r => r["answer"]!.GetValue<string>(), StringComparer.Ordinal);
        return new AnsweredItems(items.Select(i => answerOf[i.Id]).ToList(), pending.Count);
    }

    // As PredictionLog reads ids: a string as is, any other JSON value as its JSON text.
    static string IdOf(JsonObject record) =>
        record["id"]!.GetValueKind() == System.Text.Json.JsonValueKind.String ? record["id"]!.GetValue<string>() : record["id"]!.ToJsonString();
}
