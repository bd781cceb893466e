using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.World.Pretraining;

/// <summary>
/// Stage 0a: contrastive image–text pretraining of the CLIP-ConvNeXt stand-in (the model DEEM's image
/// encoder starts from, reference §1.2) on the world's in-distribution caption pairs only (the test
/// splits are never seen). Each step: a seeded batch of pairs, <see cref="ClipModel"/>'s symmetric
/// InfoNCE, then open_clip's clamp of <c>logit_scale</c> to [0, ln 100].
/// </summary>
public static class ClipTrainer
{
    public const string Name = "clip";

    public static ComponentResult Train(ClipModel clip, Stage0Data data, Stage0Options options, Stage0Callbacks callbacks)
    {
        clip.train();
        using var ids = ClipTextEncoder.Tokenize(data.CaptionIds, clip.Text.Config);              // [N, ctx]
        var batches = new Stage0Batches((int)data.PairImages.shape[0], options.BatchSize, options.Seed * 7919 + 1);
        Tensor LossOf(int step)
        {
            var idx = batches.Next();                                                             // [B]
            var output = clip.forward(new ClipInput(data.PairImages.index_select(0, idx), ids.index_select(0, idx)));
            return output.Loss;
        }
        return Stage0Loop.Run(Name, clip.parameters().ToList(), Stage0LoopSettings.From(options, options.ClipSteps, options.ClipLearningRate),
            LossOf, callbacks, clip.ClampLogitScale);
    }
}
