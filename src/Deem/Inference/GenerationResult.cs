namespace Deem.Inference;

/// <summary>Why a row stopped generating text.</summary>
public enum StopReason
{
    /// <summary><c>&lt;/s&gt;</c>: the document ended.</summary>
    EndOfText,
    /// <summary><c>&lt;soi&gt;</c>: the model asks for an image next (reference §4.3).</summary>
    StartOfImage,
    /// <summary>max_new_tokens (or the context) was reached.</summary>
    MaxTokens,
}

/// <summary>The text generated for one prompt.</summary>
/// <param name="Tokens">Generated ids, the stop token included when there is one.</param>
/// <param name="Stop">Why generation ended.</param>
/// <param name="Score">Beam search: Σ log p / n^length_penalty of the returned hypothesis; otherwise Σ log p of the chosen tokens under the model's distribution (before any processing).</param>
public sealed record GenerationResult(long[] Tokens, StopReason Stop, double Score)
{
    /// <summary>The generated ids without the stop token.</summary>
    public long[] TextTokens => Stop == StopReason.MaxTokens ? Tokens : Tokens[..^1];
}

/// <summary>One token of a streamed generation.</summary>
/// <param name="Row">Prompt index in the batch.</param>
/// <param name="Index">Position among the row's generated tokens.</param>
/// <param name="Id">The token.</param>
/// <param name="Stop">Set on the row's last token.</param>
public sealed record GeneratedToken(int Row, int Index, long Id, StopReason? Stop);
