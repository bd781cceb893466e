using Deem.Inference;
using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Serve;

/// <summary>
/// A conversation as a DEEM prompt, in the layout of <see cref="ChatSession"/> (reference §5.2 SFT):
/// the system header (the default one, or the system messages' text), then
/// <c>## USER: {images}{text}\n</c> and <c>## ASSISTANT: {text}\n</c> per message, ending with
/// <c>## ASSISTANT:</c>. A user message's images go at the start of its text, as `deem chat` attaches them.
/// </summary>
public static class ChatPrompt
{
    /// <summary>The prompt (images at the encoder resolution); throws <see cref="ApiException"/> 400 naming the message.</summary>
    public static InterleavedPrompt Build(DeemPipeline pipeline, IReadOnlyList<ChatTurn> turns, int maxImages, int maxContext)
    {
        if (turns.Count == 0) throw ApiException.BadRequest("messages must not be empty", "messages");
        int nq = pipeline.Model.Config.ImageTokens;
        var system = turns.Where(t => t.Role == "system").Select(t => t.Text.Trim()).Where(t => t.Length > 0).ToList();
        var sb = new System.Text.StringBuilder(system.Count == 0 ? PromptTemplates.System : string.Join("\n", system) + "\n\n");
        var pictures = new List<Tensor>();
        for (int i = 0; i < turns.Count; i++)
        {
            var turn = turns[i];
            if (turn.Text.Contains(SpecialTokens.SoiText, StringComparison.Ordinal))
                throw ApiException.BadRequest($"messages[{i}]: the text may not contain {SpecialTokens.SoiText}; send images as image_url parts", $"messages[{i}].content");
            var images = turn.Parts.OfType<ChatImage>().ToList();
            if (images.Count > 0 && turn.Role != "user")
                throw ApiException.BadRequest($"messages[{i}]: only user messages may carry images, found one in a {turn.Role} message", $"messages[{i}].content");
            pictures.AddRange(images.Select(p => p.Image));
            if (turn.Role == "user")
                sb.Append($"## USER: {string.Concat(images.Select(_ => PromptTemplates.Image(nq)))}{turn.Text}\n");
            else if (turn.Role == "assistant")
                sb.Append($"## ASSISTANT: {turn.Text.Trim()}\n");
        }
        if (pictures.Count > maxImages)
            throw ApiException.BadRequest($"the request has {pictures.Count} images, more than the server's limit of {maxImages}", "messages", "too_many_images");
        sb.Append("## ASSISTANT:");
        using var scope = NewDisposeScope();
        var prompt = pipeline.BuildPrompt(sb.ToString(), pictures);
        if (prompt.Ids.Count >= maxContext)
            throw ApiException.BadRequest($"the prompt has {prompt.Ids.Count} tokens (each image counts {nq + 1}), more than the model's context of {maxContext} minus one generated token",
                "messages", "context_length_exceeded");
        prompt.Images?.DetachFromDisposeScope();
        return prompt;
    }
}
