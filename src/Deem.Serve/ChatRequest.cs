using Deem.Inference;
using static TorchSharp.torch;

namespace Deem.Serve;

/// <summary>A piece of a chat message: text or a decoded image.</summary>
public abstract record ChatPart;

/// <summary>Text of a message.</summary>
public sealed record ChatText(string Text) : ChatPart;

/// <summary>An image [3, H, W] in [0, 1], decoded by the project's image reader.</summary>
public sealed record ChatImage(Tensor Image) : ChatPart;

/// <summary>One message: role system, user or assistant, and its parts in order.</summary>
public sealed record ChatTurn(string Role, IReadOnlyList<ChatPart> Parts)
{
    public string Text => string.Concat(Parts.OfType<ChatText>().Select(p => p.Text));
}

/// <summary>What to do when the model asks for an image (emits <c>&lt;soi&gt;</c>).</summary>
public enum ImageOutput
{
    /// <summary>As `deem chat`: the answer ends at <c>&lt;soi&gt;</c> (finish_reason "stop").</summary>
    None,
    /// <summary>The interleaved loop: the image is generated, returned as a <c>data:image/png</c> part, and text goes on.</summary>
    DataUrl,
}

/// <summary>
/// How each choice of a chat completion is decoded: temperature 0 is greedy, otherwise nucleus /
/// temperature sampling with a generator seeded by <c>seed + choice</c>, so a seeded request gives the
/// same answer streamed or not, alone or batched with others.
/// </summary>
/// <param name="MaxTokens">Most generated tokens per choice (clipped to the context).</param>
/// <param name="Temperature">0 = greedy.</param>
/// <param name="TopP">Nucleus mass in (0, 1].</param>
/// <param name="N">Choices.</param>
/// <param name="Seed">Seed of choice 0.</param>
/// <param name="Stop">Strings that end a choice (not included in its text).</param>
/// <param name="MinTokens">Stop tokens are forbidden before this many tokens.</param>
public sealed record ChatSampling(int MaxTokens, double Temperature, double TopP, int N, ulong Seed, IReadOnlyList<string> Stop, int MinTokens = 0)
{
    /// <summary>The decoding options of choice <paramref name="choice"/>.</summary>
    public GenerationOptions Options(int choice) => new(
        MaxNewTokens: MaxTokens,
        MinNewTokens: Math.Min(MinTokens, MaxTokens),
        DoSample: Temperature > 0,
        TopP: TopP,
        Temperature: Temperature > 0 ? Temperature : 1.0,
        Seed: Seed + (ulong)choice);
}

/// <summary>A parsed chat completion request.</summary>
/// <param name="Turns">The conversation.</param>
/// <param name="Sampling">Decoding settings.</param>
/// <param name="Stream">Answer as server-sent <c>chat.completion.chunk</c>s.</param>
/// <param name="ImageOutput">What <c>&lt;soi&gt;</c> does.</param>
/// <param name="IncludeUsage">Streamed: send a last chunk with usage (<c>stream_options.include_usage</c>).</param>
public sealed record ChatRequest(IReadOnlyList<ChatTurn> Turns, ChatSampling Sampling, bool Stream = false,
    ImageOutput ImageOutput = ImageOutput.None, bool IncludeUsage = false);
