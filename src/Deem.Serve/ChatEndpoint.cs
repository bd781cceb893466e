using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Deem.Serve;

/// <summary>
/// <c>POST /v1/chat/completions</c>: the request is checked and its prompt built (images decoded)
/// before it is queued, so every bad request is a 400 before anything is generated. The answer is
/// one <c>chat.completion</c>, or with <c>stream</c> server-sent <c>chat.completion.chunk</c>s (the role
/// first, then text deltas, then each choice's finish_reason, usage when asked) ending with
/// <c>data: [DONE]</c>. With <c>image_output: "data_url"</c> a generated image is a content part
/// <c>{"type": "image_url", "image_url": {"url": "data:image/png;base64,…"}}</c> between text parts.
/// The client leaving cancels the request's generation (RequestAborted reaches the decoder).
/// </summary>
public static class ChatEndpoint
{
    public static async Task Handle(HttpContext context, ServeSettings settings, GenerationWorker worker)
    {
        worker.Ready();
        var body = await DeemServer.ReadBody(context, settings);
        DeemServer.CheckModel(body, settings);
        var request = RequestReader.Chat(body, settings);
        var job = worker.Submit(request, context.RequestAborted);

        var id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (request.Stream) await Stream(context, settings, job, id, created);
        else await Whole(context, settings, job, id, created);
    }

    static async Task Whole(HttpContext context, ServeSettings settings, ChatJob job, string id, long created)
    {
        int n = job.Request.Sampling.N;
        var parts = Enumerable.Range(0, n).Select(_ => new List<JsonObject>()).ToArray();
        var texts = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var reasons = new string[n];
        ChatCompleted? usage = null;
        void FlushText(int c)
        {
            if (texts[c].Length == 0) return;
            parts[c].Add(new JsonObject { ["type"] = "text", ["text"] = texts[c].ToString() });
            texts[c].Clear();
        }
        await foreach (var e in job.Events(context.RequestAborted))
            switch (e)
            {
                case TextDelta t: texts[t.Choice].Append(t.Text); break;
                case ImageDelta i: FlushText(i.Choice); parts[i.Choice].Add(ImagePart(i.Png)); break;
                case ChoiceFinished f: reasons[f.Choice] = f.Reason; break;
                case ChatCompleted u: usage = u; break;
            }
        var choices = new JsonArray();
        for (int c = 0; c < n; c++)
        {
            JsonNode content;
            if (job.Request.ImageOutput == ImageOutput.DataUrl) { FlushText(c); content = new JsonArray(parts[c].ToArray()); }
            else content = texts[c].ToString();
            choices.Add(new JsonObject
            {
                ["index"] = c,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content, ["refusal"] = null },
                ["logprobs"] = null,
                ["finish_reason"] = reasons[c] ?? "length",
            });
        }
        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = settings.Id,
            ["choices"] = choices,
            ["usage"] = Usage(usage),
            ["system_fingerprint"] = null,
        }, context.RequestAborted);
    }

    static async Task Stream(HttpContext context, ServeSettings settings, ChatJob job, string id, long created)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var abort = context.RequestAborted;
        JsonObject Chunk(JsonArray choices) => new()
        {
            ["id"] = id,
            ["object"] = "chat.completion.chunk",
            ["created"] = created,
            ["model"] = settings.Id,
            ["system_fingerprint"] = null,
            ["choices"] = choices,
        };
        JsonObject Choice(int index, JsonObject delta, string? finish) => new()
        {
            ["index"] = index,
            ["delta"] = delta,
            ["logprobs"] = null,
            ["finish_reason"] = finish,
        };
        async Task Send(JsonNode data)
        {
            await response.WriteAsync("data: " + data.ToJsonString() + "\n\n", abort);
            await response.Body.FlushAsync(abort);
        }

        await response.StartAsync(abort);
        for (int c = 0; c < job.Request.Sampling.N; c++)
            await Send(Chunk([Choice(c, new JsonObject { ["role"] = "assistant", ["content"] = "" }, null)]));
        try
        {
            await foreach (var e in job.Events(abort))
            {
                switch (e)
                {
                    case TextDelta t:
                        await Send(Chunk([Choice(t.Choice, new JsonObject { ["content"] = t.Text }, null)]));
                        break;
                    case ImageDelta i:
                        await Send(Chunk([Choice(i.Choice, new JsonObject { ["content"] = new JsonArray(ImagePart(i.Png)) }, null)]));
                        break;
                    case ChoiceFinished f:
                        await Send(Chunk([Choice(f.Choice, new JsonObject(), f.Reason)]));
                        break;
                    case ChatCompleted u when job.Request.IncludeUsage:
                        var last = Chunk([]);
                        last["usage"] = Usage(u);
                        await Send(last);
                        break;
                }
            }
        }
        catch (ApiException e) { await Send(e.Body()); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await Send(ApiException.ErrorBody($"{e.GetType().Name}: {e.Message}", "server_error", null, "internal_error"));
        }
        await response.WriteAsync("data: [DONE]\n\n", abort);
        await response.Body.FlushAsync(abort);
    }

    static JsonObject ImagePart(byte[] png) => new()
    {
        ["type"] = "image_url",
        ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(png) },
    };

    static JsonObject Usage(ChatCompleted? u) => new()
    {
        ["prompt_tokens"] = u?.PromptTokens ?? 0,
        ["completion_tokens"] = u?.CompletionTokens ?? 0,
        ["total_tokens"] = (u?.PromptTokens ?? 0) + (u?.CompletionTokens ?? 0),
    };
}
