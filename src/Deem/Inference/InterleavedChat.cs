using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// One chat message answered with the interleaved loop (reference §4.3): the message (images first, as
/// `deem chat` attaches them) in the chat layout of <see cref="ChatSession"/>, then text, and at each
/// <c>&lt;soi&gt;</c> a generated image that the following text can see (<see cref="InterleavedGenerator"/>).
/// </summary>
public static class InterleavedChat
{
    /// <param name="pipeline">The loaded model (needs diffusion).</param>
    /// <param name="pictures">Images [3, H, W] in [0, 1] attached to the message.</param>
    /// <param name="message">The user's text.</param>
    /// <param name="options">Text and image settings and the loop's limits.</param>
    /// <param name="onPiece">Called with each text or image piece as soon as it exists.</param>
    public static InterleavedResult Answer(DeemPipeline pipeline, IReadOnlyList<Tensor> pictures, string message, InterleavedOptions options,
        Action<InterleavedPiece>? onPiece = null)
    {
        var chat = pipeline.Chat(options.Text);
        foreach (var p in pictures) chat.AttachImage(p);
        var prompt = chat.Prompt(message);
        var generator = new InterleavedGenerator(pipeline.Model, pipeline.Codec, pipeline.Text.MaxContext);
        return generator.Generate(prompt, options, onPiece);
    }
}
