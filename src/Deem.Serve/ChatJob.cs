using System.Threading.Channels;
using Deem.Inference;

namespace Deem.Serve;

/// <summary>Something a chat completion produced, in order.</summary>
public abstract record ChatEvent;

/// <summary>New text of choice <paramref name="Choice"/>.</summary>
public sealed record TextDelta(int Choice, string Text) : ChatEvent;

/// <summary>A generated image of choice <paramref name="Choice"/> (PNG bytes).</summary>
public sealed record ImageDelta(int Choice, byte[] Png) : ChatEvent;

/// <summary>Choice <paramref name="Choice"/> ended: "stop" (end of text, a stop string, or <c>&lt;soi&gt;</c>) or "length".</summary>
public sealed record ChoiceFinished(int Choice, string Reason) : ChatEvent;

/// <summary>All choices ended; token counts (each image of the prompt counts its soi and Nq placeholders).</summary>
public sealed record ChatCompleted(int PromptTokens, int CompletionTokens) : ChatEvent;

/// <summary>
/// One chat completion in flight: its prompt and settings, and the per-choice text state the worker
/// updates token by token. Text is released as soon as it cannot be the start of a stop string; a
/// stop string found ends the choice without it. Streamed and non-streamed answers are the same
/// events, so they join to the same text.
/// </summary>
public sealed class ChatJob
{
    readonly Channel<ChatEvent> events = Channel.CreateUnbounded<ChatEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    readonly Choice[] choices;
    readonly PromptCodec codec;
    int completionTokens;
    bool completed;

    sealed class Choice
    {
        public readonly List<long> Ids = [];
        public string Shown = "";
        public bool Done;
    }

    public ChatJob(ChatRequest request, InterleavedPrompt prompt, PromptCodec codec, CancellationToken cancel)
    {
        Request = request;
        Prompt = prompt;
        this.codec = codec;
        Cancel = cancel;
        choices = Enumerable.Range(0, request.Sampling.N).Select(_ => new Choice()).ToArray();
    }

    public ChatRequest Request { get; }
    public InterleavedPrompt Prompt { get; }
    public CancellationToken Cancel { get; }

    /// <summary>The events as they come; ends after <see cref="ChatCompleted"/> (or throws the job's failure).</summary>
    public IAsyncEnumerable<ChatEvent> Events(CancellationToken cancel) => events.Reader.ReadAllAsync(cancel);

    /// <summary>Token <paramref name="token"/> of choice <paramref name="choice"/>; false when the choice is over.</summary>
    public bool OnToken(int choice, GeneratedToken token)
    {
        var c = choices[choice];
        if (c.Done) return false;
        if (token.Stop is StopReason.EndOfText or StopReason.StartOfImage) { Finish(choice, "stop", Text(c)); return false; }
        c.Ids.Add(token.Id);
        completionTokens++;
        var text = Text(c);
        var stops = Request.Sampling.Stop;
        int cut = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        if (cut >= 0) { Finish(choice, "stop", text[..cut]); return false; }
        if (token.Stop is StopReason.MaxTokens) { Finish(choice, "length", text); return false; }
        int safe = text.Length - HeldBack(text, stops);
        if (safe > c.Shown.Length && text.StartsWith(c.Shown, StringComparison.Ordinal))
        {
            events.Writer.TryWrite(new TextDelta(choice, text[c.Shown.Length..safe]));
            c.Shown = text[..safe];
        }
        return true;
    }

    /// <summary>Text of the interleaved loop (already final).</summary>
    public void OnText(int choice, string text, int tokens)
    {
        completionTokens += tokens;
        if (text.Length > 0) events.Writer.TryWrite(new TextDelta(choice, text));
    }

    /// <summary>A generated image of the interleaved loop.</summary>
    public void OnImage(int choice, byte[] png) => events.Writer.TryWrite(new ImageDelta(choice, png));

    /// <summary>Ends choice <paramref name="choice"/> with its final text (what was not sent yet is sent).</summary>
    public void Finish(int choice, string reason, string? text = null)
    {
        var c = choices[choice];
        if (c.Done) return;
        c.Done = true;
        if (text is not null && text.Length > c.Shown.Length && text.StartsWith(c.Shown, StringComparison.Ordinal))
            events.Writer.TryWrite(new TextDelta(choice, text[c.Shown.Length..]));
        events.Writer.TryWrite(new ChoiceFinished(choice, reason));
    }

    /// <summary>Closes the events: choices still open (cancelled) end as "length"; then usage.</summary>
    public void Complete()
    {
        if (completed) return;
        completed = true;
        for (int i = 0; i < choices.Length; i++) Finish(i, "length", Text(choices[i]));
        events.Writer.TryWrite(new ChatCompleted(Prompt.Ids.Count, completionTokens));
        events.Writer.TryComplete();
        Prompt.Images?.Dispose();
    }

    /// <summary>Ends the events with <paramref name="error"/>.</summary>
    public void Fail(Exception error)
    {
        if (completed) return;
        completed = true;
        events.Writer.TryComplete(error);
        Prompt.Images?.Dispose();
    }

    string Text(Choice c) => codec.Decode(c.Ids).TrimStart();

    /// <summary>Length of the longest end of <paramref name="text"/> that starts a stop string.</summary>
    static int HeldBack(string text, IReadOnlyList<string> stops)
    {
        int held = 0;
        foreach (var s in stops)
            for (int k = Math.Min(s.Length - 1, text.Length); k > held; k--)
                if (text.EndsWith(s[..k], StringComparison.Ordinal)) { held = k; break; }
        return held;
    }
}
