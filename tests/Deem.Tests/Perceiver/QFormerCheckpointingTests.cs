using Deem.Config;
using Deem.Diffusion;
using Deem.Perceiver;
using Deem.Tests.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Perceiver;

/// <summary>
/// Both Q-Formers recompute their layers in backward with the same gradients, in training mode: the
/// visual one's dropout draws from torch's global generator, so these tests run in its collection.
/// </summary>
[Collection(GlobalTorchStateCollection.Name)]
public class QFormerCheckpointingTests
{
    // float64: autograd sums gradients in another order with checkpointing; in float32 that alone reaches ~1e-6.
    const ScalarType F64 = ScalarType.Float64;

    [Fact]
    public void VisualQFormerGradientsEqualThePlainOnes()
    {
        var gen = new Generator(31);
        using var m = new PerceiverResampler(QFormerConfig.TinyVisual, gen);
        Assert.True(QFormerConfig.TinyVisual.HiddenDropoutProb > 0);   // the replay of dropout is under test too
        CheckpointGradients.Perturb(m, gen);
        m.to(F64);
        m.train();
        var enc = randn([2, 10, QFormerConfig.TinyVisual.EncoderHiddenSize], dtype: F64, generator: gen).requires_grad_(true);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 }).view(2, 10);
        var w = randn([2, QFormerConfig.TinyVisual.NumQueries, QFormerConfig.TinyVisual.HiddenSize], dtype: F64, generator: gen);
        var runs = CheckpointGradients.Both(m, on => m.GradientCheckpointing = on, [enc],
            () => (m.forward(new PerceiverInput(enc, mask)) * w).sum(), beforeEach: () => manual_seed(5));
        CheckpointGradients.AssertSame(runs, blocks: QFormerConfig.TinyVisual.NumHiddenLayers);
    }

    [Fact]
    public void ImageDecoderQFormerGradientsEqualThePlainOnes()
    {
        var gen = new Generator(32);
        var config = ImageDecoderConfig.Tiny;
        using var m = new ImageDecoder(config, gen);
        CheckpointGradients.Perturb(m, gen);
        m.to(F64);
        m.train();
        var q = config.PerceiverConfig;
        var context = randn([3, 7, config.ContextHiddenSize], dtype: F64, generator: gen).requires_grad_(true);
        var mask = ones(3, 7, dtype: ScalarType.Int64);
        mask[2, TensorIndex.Slice(4)] = tensor(0L);
        var w = randn([3, q.NumQueries, q.HiddenSize], dtype: F64, generator: gen);
        var runs = CheckpointGradients.Both(m, on => m.PerceiverResampler.GradientCheckpointing = on, [context],
            () => (m.forward(new ImageDecoderInput(context, mask, new Generator(33))).Condition * w).sum(), beforeEach: () => manual_seed(6));
        CheckpointGradients.AssertSame(runs, blocks: q.NumHiddenLayers);
    }
}
