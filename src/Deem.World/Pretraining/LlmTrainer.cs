using Deem.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.World.Pretraining;

/// <summary>
/// Stage 0b: causal language-model pretraining of the LLaMA stand-in for Vicuna (reference §1.6) on the
/// world's text (captions, MMC4 documents, VQA turns). Documents are packed into one stream of
/// <c>&lt;s&gt; … &lt;/s&gt;</c> token ids; each step reads seeded random windows and minimises the
/// next-token cross-entropy (paper Eq. 2 without images).
/// </summary>
public static class LlmTrainer
{
    public const string Name = "llm";

    public static ComponentResult Train(LlamaForCausalLM llm, Stage0Data data, Stage0Options options, Stage0Callbacks callbacks)
    {
        llm.train();
        var stream = data.TokenStream();
        int L = Math.Min(options.LlmSequenceLength, stream.Length);
        if (L < 2) throw new ArgumentException($"the world's text has {stream.Length} tokens, the language model needs at least 2");
        int B = options.LlmBatchSize;
        var rng = new Random(options.Seed * 7919 + 2);
        Tensor LossOf(int step)
        {
            var rows = new long[B * L];
            for (int b = 0; b < B; b++)
                Array.Copy(stream, rng.Next(0, stream.Length - L + 1), rows, b * L, L);
            var ids = tensor(rows, new long[] { B, L });                                          // [B, L]
            var logits = llm.forward(new LlamaModelInput(InputIds: ids));                         // [B, L, V]
            var labels = ids.narrow(1, 1, L - 1);                                                 // [B, L-1]
            return NextTokenLoss.Compute(logits, labels);
        }
        return Stage0Loop.Run(Name, llm.parameters().ToList(), Stage0LoopSettings.From(options, options.LlmSteps, options.LlmLearningRate),
            LossOf, callbacks);
    }
}
