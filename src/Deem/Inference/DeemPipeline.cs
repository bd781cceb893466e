using Deem.Model;
using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// DEEM as a library (paper §2.3 inference): a model folder loaded once, then visual question
/// answering, captions, region descriptions, text-to-image and chat, each prompt built with the
/// templates the model was trained and evaluated with (reference §5.2, §5.3) and decoded with the
/// matching preset of reference §4.1. Images are [3, H, W] in [0, 1] of any size (resized and
/// centre-cropped to the encoder view); masks are [H, W] (resized to their image, nearest).
/// </summary>
public sealed class DeemPipeline : IDisposable
{
    readonly DeemModel model;
    ImageGenerator? images;

    public DeemPipeline(DeemModel model, ITextTokenizer tokenizer, int? maxContext = null)
    {
        this.model = model;
        Codec = new PromptCodec(tokenizer, model.Tokens, model.Config.ImageTokens);
        Text = new TextGenerator(model, maxContext);
    }

    /// <summary>
    /// Loads a model folder; a missing or incomplete folder is a <see cref="DeemFormatException"/> naming it. With
    /// <paramref name="options"/>, through <see cref="ModelLoader"/> (meta build, memory-mapped weights in the placement's
    /// dtype, text-only with <see cref="LoadOptions.TextOnly"/>; it switches the process's default device while it builds);
    /// without, <see cref="DeemCheckpoint.Load"/> in fp32.
    /// </summary>
    public static DeemPipeline Load(string modelDir, int? maxContext = null, LoadOptions? options = null)
    {
        if (options is null)
        {
            var (model, tokenizer) = DeemCheckpoint.Load(modelDir);
            PlacementPolicy.LayOutForDecoding(model);                                             // cpu fp32: one-row products read W in order
            return new DeemPipeline(model, tokenizer, maxContext);
        }
        var loaded = ModelLoader.Load(modelDir, options);
        return new DeemPipeline(loaded.Model, loaded.Tokenizer, maxContext);
    }

    /// <summary>
    /// Loads the whole model (image output included) on <paramref name="placement"/>: fp32 on the CPU through
    /// <see cref="DeemCheckpoint.Load"/>, any other device or dtype through <see cref="ModelLoader"/> (built on meta,
    /// weights memory-mapped straight into the placement's dtype, never held twice).
    /// </summary>
    public static DeemPipeline Load(string modelDir, int? maxContext, Placement? placement) =>
        Load(modelDir, maxContext, placement is null || placement == Placement.Default ? null : new LoadOptions { Placement = placement });

    public DeemModel Model => model;
    public PromptCodec Codec { get; }
    public TextGenerator Text { get; }

    /// <summary>The image generator (throws <see cref="ModelCapabilityException"/> for a model without diffusion).</summary>
    public ImageGenerator Images => images ??= new ImageGenerator(model);

    int Nq => model.Config.ImageTokens;

    /// <summary>
    /// A prompt from template text with one image block per image, the images in block order, and
    /// optional per-image masks (null = whole image). With any mask, every image gets one (ones when null).
    /// </summary>
    public InterleavedPrompt BuildPrompt(string text, IReadOnlyList<Tensor> pictures, IReadOnlyList<Tensor?>? masks = null)
    {
        int blocks = PromptCodec.CountImages(text);
        if (blocks != pictures.Count)
            throw new ArgumentException($"the prompt has {blocks} image block(s) but {pictures.Count} image(s) were given");
        int R = model.Config.EncoderResolution;
        Tensor? imageBatch = pictures.Count == 0 ? null : stack(pictures.Select(p => ImageInputs.ToEncoderView(p, R)).ToArray(), 0); // [I, 3, R, R]
        Tensor? maskBatch = null;
        if (masks is not null && masks.Any(m => m is not null))
        {
            if (masks.Count != pictures.Count) throw new ArgumentException($"{masks.Count} mask slots for {pictures.Count} images");
            maskBatch = stack(pictures.Select((p, i) => masks[i] is Tensor m
                ? ImageInputs.MaskToEncoderView(RegionMaskFiles.Check(m, "mask"), p.shape[1], p.shape[2], R)
                : ones(1, R, R, device: CPU)).ToArray(), 0);                                                      // [I, 1, R, R]
        }
        return new InterleavedPrompt(Codec.Encode(text), imageBatch, maskBatch);
    }

    /// <summary>
    /// Answers a question about one or more images (<see cref="GenerationPresets.Vqa"/> by default) with the
    /// template the benchmarks use for its kind: a question that asks for yes or no (RobustVQA's and POPE's
    /// "Please anwser yes or no") gets the yes/no template, any other the VQA template with its one-word instruction.
    /// </summary>
    public string Ask(IReadOnlyList<Tensor> pictures, string question, GenerationOptions? options = null)
    {
        var text = PromptTemplates.IsYesNoQuestion(question) ? PromptTemplates.YesNoEval(question, Nq) : PromptTemplates.VqaEval(question, Nq);
        // Extra images go right before the first one, in order.
        if (pictures.Count > 1)
        {
            var block = PromptTemplates.Image(Nq);
            int at = text.IndexOf(block, StringComparison.Ordinal);
            text = text[..at] + string.Concat(Enumerable.Repeat(block, pictures.Count - 1)) + text[at..];
        }
        if (pictures.Count == 0) text = text.Replace(PromptTemplates.Image(Nq), "");
        return Answer(BuildPrompt(text, pictures), options ?? GenerationPresets.Vqa);
    }

    /// <summary>A short caption (caption eval template, continuing "A photo of"; <see cref="GenerationPresets.Caption"/>).</summary>
    public string Caption(Tensor picture, GenerationOptions? options = null) =>
        Answer(BuildPrompt(PromptTemplates.CaptionEval(Nq), [picture]), options ?? GenerationPresets.Caption);

    /// <summary>
    /// What is in a region (reference §5.3): the whole image first (all-ones mask), then the region as
    /// a second block with its mask, asked with the region template; needs the mask-aware extractor.
    /// </summary>
    public string Describe(Tensor picture, Tensor mask, string? question = null, GenerationOptions? options = null) =>
        Answer(RegionPrompt(picture, mask, question), options ?? GenerationPresets.Vqa with { MaxNewTokens = 30 });

    /// <summary>The region prompt of <see cref="Describe"/>.</summary>
    public InterleavedPrompt RegionPrompt(Tensor picture, Tensor mask, string? question = null)
    {
        if (!model.Config.MaskAlign)
            throw new ModelCapabilityException(model.Config.Name, "region prompts need a model built with the mask-aware extractor (mask_align = true, stage 3)");
        var q = question is null ? PromptTemplates.RegionQuestion : question.Contains("<mask>") ? question : "<mask> " + question;
        var text = PromptTemplates.Region([(q, "")], Nq).TrimEnd();
        return BuildPrompt(text, [picture, picture], [null, mask]);
    }

    /// <summary>Text to image: the text-to-image instruction template up to the assistant's image block, then generation.</summary>
    public Tensor GenerateImage(string prompt, ImageGenerationOptions? options = null, Action<DenoisingProgress>? progress = null)
    {
        var text = PromptTemplates.Assemble(PromptTemplates.System, $"## USER: {PromptTemplates.GenerationInstructions[0]}{prompt} \n", "## ASSISTANT:");
        var ids = Codec.Encode(text);
        ids.Add(model.Tokens.Soi);
        return Images.Generate([new InterleavedPrompt(ids)], options ?? ImageGenerationOptions.Paper, progress)[0];  // [3, H, W]
    }

    /// <summary>A chat with history.</summary>
    public ChatSession Chat(GenerationOptions? options = null) => new(this, options ?? GenerationOptions.Greedy(64));

    /// <summary>Generated text without the stop token, trimmed.</summary>
    public string Answer(InterleavedPrompt prompt, GenerationOptions options) =>
        Codec.Decode(Text.Generate(prompt, options).TextTokens).Trim();

    public void Dispose() => model.Dispose();
}
