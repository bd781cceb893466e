using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// A conversation with DEEM: the system header, then per turn <c>## USER: {images}{message}\n</c> and
/// <c>## ASSISTANT: {answer}\n</c> (the SFT layout of reference §5.2). Images attached before a message
/// go at the start of that message and stay in the history; a region attaches the latest image again
/// with its mask (the §5.3 layout: whole image, then the region). Answers stream as text pieces.
/// </summary>
public sealed class ChatSession
{
    readonly DeemPipeline pipeline;
    readonly List<(string User, string Assistant)> turns = [];
    readonly List<Tensor> pictures = [];
    readonly List<Tensor?> masks = [];
    readonly List<int> pendingBlocks = [];        // image indices attached for the next message

    public ChatSession(DeemPipeline pipeline, GenerationOptions options)
    {
        this.pipeline = pipeline;
        Options = options.Validate();
    }

    public GenerationOptions Options { get; set; }

    /// <summary>Completed turns.</summary>
    public IReadOnlyList<(string User, string Assistant)> Turns => turns;

    /// <summary>Images attached and not yet sent.</summary>
    public int PendingImages => pendingBlocks.Count;

    /// <summary>Attaches an image [3, H, W] to the next message.</summary>
    public void AttachImage(Tensor image)
    {
        if (image.ndim != 3 || image.shape[0] != 3)
            throw new ArgumentException($"image: expected [3, H, W], found [{string.Join(", ", image.shape)}]", nameof(image));
        pictures.Add(image);
        masks.Add(null);
        pendingBlocks.Add(pictures.Count - 1);
    }

    /// <summary>Attaches the latest image again, restricted to <paramref name="mask"/> [H, W].</summary>
    public void AttachRegion(Tensor mask, string source = "mask")
    {
        if (pictures.Count == 0) throw new InvalidOperationException("attach an image before a region mask");
        if (!pipeline.Model.Config.MaskAlign)
            throw new ModelCapabilityException(pipeline.Model.Config.Name, "region prompts need a model built with mask_align = true (stage 3)");
        pictures.Add(pictures[^1]);
        masks.Add(RegionMaskFiles.Check(mask, source));
        pendingBlocks.Add(pictures.Count - 1);
    }

    /// <summary>Forgets the history and the attached images.</summary>
    public void Reset()
    {
        turns.Clear();
        pictures.Clear();
        masks.Clear();
        pendingBlocks.Clear();
    }

    /// <summary>The prompt for <paramref name="message"/> given the history.</summary>
    public InterleavedPrompt Prompt(string message)
    {
        int nq = pipeline.Model.Config.ImageTokens;
        var sb = new System.Text.StringBuilder(PromptTemplates.System);
        foreach (var (user, assistant) in turns) sb.Append($"## USER: {user}\n## ASSISTANT: {assistant}\n");
        var blocks = string.Concat(pendingBlocks.Select(_ => PromptTemplates.Image(nq)));
        sb.Append($"## USER: {blocks}{message}\n## ASSISTANT:");
        return pipeline.BuildPrompt(sb.ToString(), pictures, masks);
    }

    /// <summary>Sends a message; yields the answer's text as it is generated and records the turn.</summary>
    public IEnumerable<string> Send(string message)
    {
        var prompt = Prompt(message);
        var ids = new List<long>();
        string shown = "";
        foreach (var token in pipeline.Text.Stream(prompt, Options))
        {
            if (token.Stop is StopReason.EndOfText or StopReason.StartOfImage) break;
            ids.Add(token.Id);
            var text = pipeline.Codec.Decode(ids).TrimStart();
            if (text.Length > shown.Length && text.StartsWith(shown, StringComparison.Ordinal))
            {
                yield return text[shown.Length..];
                shown = text;
            }
        }
        var answer = pipeline.Codec.Decode(ids).Trim();
        int nq = pipeline.Model.Config.ImageTokens;
        turns.Add((string.Concat(pendingBlocks.Select(_ => PromptTemplates.Image(nq))) + message, answer));
        pendingBlocks.Clear();
    }

    /// <summary><see cref="Send"/> as an async sequence.</summary>
    public IAsyncEnumerable<string> SendAsync(string message) => Send(message).ToAsyncEnumerable();
}
