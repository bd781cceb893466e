namespace Deem.Inference;

/// <summary>A prompt that does not fit the model's context (max_position_embeddings or the configured limit).</summary>
public sealed class PromptTooLongException : DeemException
{
    public PromptTooLongException(int promptTokens, int limit, string limitName)
        : base($"the prompt has {promptTokens} tokens, more than the model's context of {limit} ({limitName}); shorten the text or use fewer images")
    {
        PromptTokens = promptTokens;
        Limit = limit;
    }

    public int PromptTokens { get; }
    public int Limit { get; }
}

/// <summary>A request the loaded model cannot serve (e.g. image generation with a model built without diffusion).</summary>
public sealed class ModelCapabilityException : DeemException
{
    public ModelCapabilityException(string model, string message) : base($"{model}: {message}") { }
}
