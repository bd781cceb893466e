using Deem.Config;
using Deem.Language;
using Deem.Tests.Training;
using Deem.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Language;

/// <summary>Recomputing the decoder layers in backward leaves every gradient as it was.</summary>
public class LlamaCheckpointingTests
{
    // float64: autograd sums gradients in another order with checkpointing; in float32 that alone reaches ~1e-6.
    const ScalarType F64 = ScalarType.Float64;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]   // stage 1: the LLaMA frozen, only its MMFS cross-attention trains
    public void GradientsEqualThePlainOnes(bool freezeAllButCrossAttention)
    {
        var config = DeemConfig.TinyFor(SpecialTokens.Tiny);
        var gen = new Generator(21);
        using var llm = new LlamaModel(config.Llm, _ => new LlamaCrossAttention(config.LlmMmfs, config.Llm.RmsNormEps, gen), gen);
        CheckpointGradients.Perturb(llm, gen);
        llm.to(F64);
        llm.eval();
        if (freezeAllButCrossAttention)
            foreach (var (name, p) in llm.named_parameters()) p.requires_grad = name.Contains("llama_cross_attn");

        long B = 2, L = 6, N = 2, D = config.Llm.HiddenSize, Dv = config.LlmMmfs.DValue;
        (long, long)[] shapes = [(8, 8), (4, 4), (2, 2)];
        var embeds = randn([B, L, D], dtype: F64, generator: gen).requires_grad_(true);
        var values = randn([B, N, 84, Dv], dtype: F64, generator: gen).requires_grad_(true);
        var visible = tensor(new bool[] { false, false, true, true, true, true, false, true, true, true, true, true,
                                          false, false, false, true, true, true, false, false, false, true, true, true }).view(B, L, N);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }).view(B, L);   // row 1 padded
        var w = randn([B, L, D], dtype: F64, generator: gen);
        var input = new LlamaModelInput(InputsEmbeds: embeds, AttentionMask: mask, Vision: new MmfsVisionStates(values, shapes, visible));

        var runs = CheckpointGradients.Both(llm, on => llm.GradientCheckpointing = on, [embeds, values],
            () => (llm.forward(input) * w).sum());
        CheckpointGradients.AssertSame(runs, blocks: config.Llm.NumHiddenLayers);
    }
}
