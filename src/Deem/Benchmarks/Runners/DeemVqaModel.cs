using Deem.Inference;
using Deem.Text;

namespace Deem.Benchmarks;

/// <summary>
/// A DEEM model as the benchmarks' <see cref="IVqaModel"/>: each question is asked with the
/// RobustVQA/POPE template of reference §5.2 (<c>## USER: Based on the image, please answer the
/// question. {IMG}{question} \n ## ASSISTANT: The answer is</c>); decoding uses the evaluation
/// preset of §4.1 (10 new tokens, 3 beams) unless overridden. Images are read from disk and resized
/// to the encoder resolution.
/// </summary>
public sealed class DeemVqaModel : IBatchedVqaModel
{
    readonly DeemPipeline pipeline;
    readonly GenerationOptions options;

    public DeemVqaModel(DeemPipeline pipeline, GenerationOptions? options = null)
    {
        this.pipeline = pipeline;
        this.options = options ?? GenerationPresets.Vqa;
    }

    public string Answer(string imagePath, string question, string? options) =>
        AnswerBatch([new VqaRequest(imagePath, question, options)])[0];

    /// <summary>Answers a batch in one left-padded generation (the same outputs as one by one).</summary>
    public IReadOnlyList<string> AnswerBatch(IReadOnlyList<VqaRequest> requests)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        int nq = pipeline.Model.Config.ImageTokens;
        var prompts = requests.Select(r =>
        {
            // One template for all three benchmarks: the RobustVQA/POPE one (MMVP's prompt already
            // carries its options). MMVP has no template in the authors' code; the VQA-eval one adds a
            // "one word" instruction that no training item has.
            var text = PromptTemplates.YesNoEval(r.Question, nq);
            return pipeline.BuildPrompt(text, [ImageInputs.Read(r.ImagePath)]);
        }).ToList();
        return pipeline.Text.Generate(prompts, options).Select(g => pipeline.Codec.Decode(g.TextTokens).Trim()).ToList();
    }
}
