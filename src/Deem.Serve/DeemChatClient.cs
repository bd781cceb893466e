using System.Runtime.CompilerServices;
using Deem.Data.Images;
using Deem.Inference;
using Microsoft.Extensions.AI;

namespace Deem.Serve;

/// <summary>
/// DEEM as a <see cref="IChatClient"/> (Microsoft.Extensions.AI), in-process, over the same worker as
/// `deem serve`: the same prompt layout, decoding, batching with concurrent callers, and options —
/// <see cref="ChatOptions.MaxOutputTokens"/>, <see cref="ChatOptions.Temperature"/> (0 = greedy),
/// <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.Seed"/>, <see cref="ChatOptions.StopSequences"/>,
/// and <c>AdditionalProperties["image_output"] = "data_url"</c> for the interleaved loop (generated
/// images come back as <see cref="DataContent"/> image/png). Images go in as <see cref="DataContent"/>.
/// </summary>
public sealed class DeemChatClient : IChatClient
{
    readonly GenerationWorker worker;
    readonly ServeSettings settings;
    readonly bool ownsWorker;
    readonly ChatClientMetadata metadata;

    /// <param name="worker">The worker owning the model (shared with a server, or owned by <see cref="Load"/>).</param>
    /// <param name="settings">Its settings (model id, limits).</param>
    /// <param name="ownsWorker">Dispose the worker with the client.</param>
    public DeemChatClient(GenerationWorker worker, ServeSettings settings, bool ownsWorker = false)
    {
        this.worker = worker;
        this.settings = settings;
        this.ownsWorker = ownsWorker;
        metadata = new ChatClientMetadata("deemsharp", null, settings.Id);
    }

    /// <summary>A client over its own worker loading <paramref name="modelDir"/>.</summary>
    public static DeemChatClient Load(string modelDir, ServeSettings? settings = null)
    {
        var s = (settings ?? new ServeSettings(modelDir)) with { ModelDir = modelDir };
        return new DeemChatClient(new GenerationWorker(s.Validate(), () => DeemPipeline.Load(modelDir, s.MaxContext, s.Placement)), s, ownsWorker: true);
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var contents = new List<AIContent>();
        string? finish = null;
        UsageDetails? usage = null;
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken))
        {
            foreach (var c in update.Contents)
            {
                if (c is UsageContent u) usage = u.Details;
                else if (c is TextContent t && contents.LastOrDefault() is TextContent last) last.Text += t.Text;
                else contents.Add(c is TextContent text ? new TextContent(text.Text) : c);
            }
            if (update.FinishReason is ChatFinishReason r) finish = r.Value;
        }
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, contents))
        {
            ModelId = settings.Id,
            FinishReason = finish is null ? null : new ChatFinishReason(finish),
            Usage = usage,
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await worker.Loaded.WaitAsync(cancellationToken);
        var job = worker.Submit(Request(messages, options), cancellationToken);
        await foreach (var e in job.Events(cancellationToken))
        {
            switch (e)
            {
                case TextDelta t:
                    yield return new ChatResponseUpdate(ChatRole.Assistant, t.Text) { ModelId = settings.Id };
                    break;
                case ImageDelta i:
                    yield return new ChatResponseUpdate(ChatRole.Assistant, [new DataContent(i.Png, "image/png")]) { ModelId = settings.Id };
                    break;
                case ChoiceFinished f:
                    yield return new ChatResponseUpdate { Role = ChatRole.Assistant, FinishReason = f.Reason == "length" ? ChatFinishReason.Length : ChatFinishReason.Stop, ModelId = settings.Id };
                    break;
                case ChatCompleted u:
                    yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails
                    {
                        InputTokenCount = u.PromptTokens,
                        OutputTokenCount = u.CompletionTokens,
                        TotalTokenCount = u.PromptTokens + u.CompletionTokens,
                    })]) { ModelId = settings.Id };
                    break;
            }
        }
    }

    /// <summary>The request the server would build for the same conversation and options.</summary>
    ChatRequest Request(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var turns = messages.Select((m, i) =>
        {
            var role = m.Role == ChatRole.System ? "system" : m.Role == ChatRole.User ? "user" : m.Role == ChatRole.Assistant ? "assistant"
                : throw new ArgumentException($"messages[{i}]: role '{m.Role}' is not supported (system, user, assistant)", nameof(messages));
            var parts = new List<ChatPart>();
            foreach (var c in m.Contents)
            {
                if (c is TextContent t) parts.Add(new ChatText(t.Text));
                else if (c is DataContent d && d.HasTopLevelMediaType("image")) parts.Add(new ChatImage(ImageTensors.Load(d.Data.ToArray(), $"messages[{i}] {d.MediaType}")));
            }
            return new ChatTurn(role, parts);
        }).ToList();
        var imageOutput = options?.AdditionalProperties?.TryGetValue("image_output", out var v) == true && v?.ToString() == "data_url"
            ? ImageOutput.DataUrl : ImageOutput.None;
        var sampling = new ChatSampling(
            MaxTokens: options?.MaxOutputTokens ?? 256,
            Temperature: options?.Temperature ?? 1.0,
            TopP: options?.TopP ?? 1.0,
            N: 1,
            Seed: options?.Seed is long seed ? unchecked((ulong)seed) : (ulong)Random.Shared.NextInt64(),
            Stop: options?.StopSequences?.ToList() ?? []);
        return new ChatRequest(turns, sampling, ImageOutput: imageOutput);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType == typeof(GenerationWorker) ? worker
        : null;

    public void Dispose()
    {
        if (ownsWorker) worker.Dispose();
    }
}
