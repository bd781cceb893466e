using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>A piece of an interleaved output: text or an image.</summary>
public abstract record InterleavedPiece;

/// <summary>Generated text (its ids without the stop token, and their decoded text).</summary>
public sealed record TextPiece(string Text, long[] Tokens) : InterleavedPiece;

/// <summary>A generated image [3, H, W] in [0, 1] at the decoder resolution.</summary>
public sealed record ImagePiece(Tensor Image) : InterleavedPiece;

/// <summary>Limits and settings of the interleaved loop.</summary>
/// <param name="Text">Text decoding settings of each round.</param>
/// <param name="Image">Image generation settings (the seed is advanced by one per image).</param>
/// <param name="MaxImages">Most images generated; a further <c>&lt;soi&gt;</c> ends the loop.</param>
/// <param name="MaxTokens">Most text tokens generated over all rounds.</param>
public sealed record InterleavedOptions(GenerationOptions Text, ImageGenerationOptions Image, int MaxImages = 2, int MaxTokens = 256);

/// <summary>The pieces in order, and the final context (ids and encoder-view images) they form.</summary>
public sealed record InterleavedResult(IReadOnlyList<InterleavedPiece> Pieces, IReadOnlyList<long> Ids, IReadOnlyList<Tensor> ContextImages, StopReason Stop);

/// <summary>
/// Interleaved image-text generation (reference §4.3, MM-Interleaved's loop written cleanly; paper §2.3):
/// generate text until <c>&lt;soi&gt;</c> or <c>&lt;/s&gt;</c>; on <c>&lt;soi&gt;</c>, generate the image from the
/// context up to that soi, append the soi and Nq placeholders to the context and the generated image —
/// re-encoded at the encoder resolution — to its images, so that it is a real image of the prompt for
/// everything that follows; then continue with text. Ends at <c>&lt;/s&gt;</c>, at the image or token
/// limit, or when the context is full.
/// </summary>
public sealed class InterleavedGenerator
{
    readonly DeemModel model;
    readonly PromptCodec codec;
    readonly TextGenerator text;
    readonly ImageGenerator images;

    public InterleavedGenerator(DeemModel model, PromptCodec codec, int? maxContext = null)
    {
        this.model = model;
        this.codec = codec;
        text = new TextGenerator(model, maxContext);
        images = new ImageGenerator(model);
    }

    /// <param name="prompt">The starting context (ids from BOS, images in soi order).</param>
    /// <param name="options">Text and image settings and the loop's limits.</param>
    /// <param name="onPiece">Called with each piece as soon as it exists.</param>
    /// <param name="progress">Denoising progress of each image.</param>
    public InterleavedResult Generate(InterleavedPrompt prompt, InterleavedOptions options,
        Action<InterleavedPiece>? onPiece = null, Action<DenoisingProgress>? progress = null)
    {
        var tokens = model.Tokens;
        int nq = model.Config.ImageTokens;
        var ids = prompt.Ids.ToList();
        var context = new List<Tensor>();
        if (prompt.Images is not null)
            for (int i = 0; i < prompt.Images.shape[0]; i++) context.Add(prompt.Images[i].to_type(ScalarType.Float32));
        var masks = prompt.RegionMasks is null ? null
            : Enumerable.Range(0, (int)prompt.RegionMasks.shape[0]).Select(i => prompt.RegionMasks[i]).ToList();
        var pieces = new List<InterleavedPiece>();
        void Emit(InterleavedPiece p) { pieces.Add(p); onPiece?.Invoke(p); }
        InterleavedPrompt Current() => new(ids.ToArray(), context.Count == 0 ? null : stack(context, 0),
            masks is null ? null : stack(masks, 0));

        int generated = 0, made = 0, round = 0;
        var stop = StopReason.MaxTokens;
        while (generated < options.MaxTokens && ids.Count + 1 < text.MaxContext)
        {
            var settings = options.Text with
            {
                MaxNewTokens = Math.Min(options.Text.MaxNewTokens, options.MaxTokens - generated),
                MinNewTokens = Math.Min(options.Text.MinNewTokens, Math.Min(options.Text.MaxNewTokens, options.MaxTokens - generated)),
                Seed = options.Text.Seed + (ulong)round++,
            };
            var result = text.Generate(Current(), settings);
            generated += result.Tokens.Length;
            stop = result.Stop;
            var words = result.TextTokens;
            if (words.Length > 0)
            {
                ids.AddRange(words);
                Emit(new TextPiece(codec.Decode(words), words));
            }
            if (result.Stop == StopReason.EndOfText) break;
            if (result.Stop != StopReason.StartOfImage) continue;

            // <soi>: the image comes next.
            if (made >= options.MaxImages || ids.Count + 1 + nq >= text.MaxContext) break;
            ids.Add(tokens.Soi);
            using var condition = images.Condition([Current()]);
            var image = images.Generate(condition, options.Image with { Seed = options.Image.Seed + (ulong)made }, progress)[0]; // [3, H, W]
            made++;
            Emit(new ImagePiece(image));
            ids.AddRange(Enumerable.Repeat((long)tokens.Image, nq));
            context.Add(ImageInputs.ToEncoderView(image.cpu(), model.Config.EncoderResolution));   // prompts live on the host
            masks?.Add(ones(1, model.Config.EncoderResolution, model.Config.EncoderResolution, device: CPU));
        }
        return new InterleavedResult(pieces, ids, context, stop);
    }
}
