namespace Deem.Benchmarks;

/// <summary>
/// A model that answers a question about one image with free-form text — the only thing the benchmark
/// runners need (reference §6: RobustVQA, POPE and MMVP are all scored from the generated text), so the
/// runners do not depend on the model code. Implementations load and preprocess the image themselves.
/// </summary>
public interface IVqaModel
{
    /// <summary>
    /// The answer to <paramref name="question"/> about the image at <paramref name="imagePath"/>.
    /// <paramref name="question"/> is the complete prompt as evaluated (reference §6: for MMVP it already
    /// ends with the options); <paramref name="options"/> repeats MMVP's options text ("(a) … (b) …") for
    /// models that want it separately, and is null for yes/no benchmarks.
    /// </summary>
    string Answer(string imagePath, string question, string? options);
}

/// <summary>One request of a batched <see cref="IBatchedVqaModel"/> call (same meaning as <see cref="IVqaModel.Answer"/>'s arguments).</summary>
public sealed record VqaRequest(string ImagePath, string Question, string? Options);

/// <summary>A <see cref="IVqaModel"/> that can answer several requests in one call (one forward pass per batch).</summary>
public interface IBatchedVqaModel : IVqaModel
{
    /// <summary>One answer per request, in order.</summary>
    IReadOnlyList<string> AnswerBatch(IReadOnlyList<VqaRequest> requests);
}
