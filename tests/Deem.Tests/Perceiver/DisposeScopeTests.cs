using Deem.Config;
using Deem.Diffusion;
using Deem.Perceiver;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Perceiver;

public class DisposeScopeTests
{
    [Fact]
    public void RepeatedForwardsLeaveNoLiveTensorsBehind()
    {
        using var head = new VisualTokenizerHead(QFormerConfig.TinyVisual, 32, 32, new Generator(1));
        using var dec = new ImageDecoder(ImageDecoderConfig.Tiny, new Generator(2));
        head.train();
        dec.train();
        var g = new Generator(3);
        using var tokens = randn([2, 17, QFormerConfig.TinyVisual.EncoderHiddenSize], generator: g);
        using var pos = randn([17, QFormerConfig.TinyVisual.EncoderHiddenSize], generator: g);
        using var hidden = randn([1, 8, ImageDecoderConfig.Tiny.ContextHiddenSize], generator: g);
        using var ids = tensor(new long[,] { { 1, 5, 32000, 32001, 6, 32000, 32001, 2 } });

        void Step()
        {
            using var scope = NewDisposeScope();
            var y = head.forward(new VisualTokenizerHeadInput(tokens, pos, ones(2, 1, 16, 16)));
            var ctx = ImageDecoderContext.Extract(hidden, ids, 1, 32000);
            var c = dec.forward(new ImageDecoderInput(ctx.Features, ctx.Mask, g));
            (y.DiffusionCond.sum() + c.Condition.sum()).backward();
        }

        Step();   // the first step creates the .grad tensors
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 3; i++) Step();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
