using Deem.Config;
using Deem.Diffusion;
using Deem.Tests.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Diffusion;

/// <summary>Recomputing the UNet's blocks and the MMFSNet blocks in backward leaves every gradient as it was.</summary>
public class DiffusionCheckpointingTests
{
    // float64: autograd sums gradients in another order with checkpointing; in float32 that alone reaches ~1e-6.
    const ScalarType F64 = ScalarType.Float64;

    [Theory]
    [InlineData(8, false)]
    [InlineData(6, false)]   // odd-sized skips: the up blocks get an explicit upsample size
    [InlineData(8, true)]    // DEEM: the UNet frozen, gradients only to the latent and the condition
    public void UNetGradientsEqualThePlainOnes(int side, bool frozen)
    {
        var gen = new Generator(41);
        using var unet = new UNet2DConditionModel(UNetConfig.Tiny);
        CheckpointGradients.Perturb(unet, gen);
        unet.to(F64);
        unet.eval();
        if (frozen) foreach (var p in unet.parameters()) p.requires_grad = false;
        var x = randn([2, 4, side, side], dtype: F64, generator: gen).requires_grad_(true);
        var c = randn([2, 5, UNetConfig.Tiny.CrossAttentionDim], dtype: F64, generator: gen).requires_grad_(true);
        var t = tensor(new long[] { 100, 700 });
        var w = randn([2, 4, side, side], dtype: F64, generator: gen);
        var runs = CheckpointGradients.Both(unet, on => unet.GradientCheckpointing = on, [x, c],
            () => (unet.forward(new UNet2DConditionInput(x, t, c)) * w).sum());
        CheckpointGradients.AssertSame(runs, blocks: 5, parametersTrain: !frozen);   // 2 down, mid, 2 up
    }

    [Fact]
    public void MmfsNetGradientsEqualThePlainOnes()
    {
        var gen = new Generator(42);
        var c = MmfsConfig.MmfsNetTiny;
        using var net = new MmfsNet([8, 8, 8, 16], 16, c, skipBaseSides: [8, 8, 4, 4], posEmbedGrid: 8, generator: gen);
        CheckpointGradients.Perturb(net, gen);   // the residual convs start at zero
        net.to(F64);
        net.eval();
        var skips = new long[] { 8, 8, 8, 16 }.Select((ch, i) => randn([2, ch, i < 2 ? 8 : 4, i < 2 ? 8 : 4], dtype: F64, generator: gen).requires_grad_(true)).ToArray();
        var mid = randn([2, 16, 4, 4], dtype: F64, generator: gen).requires_grad_(true);
        var features = c.SpatialShapes.Select(s => randn([2, 2, c.DValue, s, s], dtype: F64, generator: gen).requires_grad_(true)).ToArray();
        var imageMask = tensor(new long[] { 1, 1, 1, 0 }).view(2, 2);
        var weights = skips.Append(mid).Select(s => randn(s.shape, dtype: F64, generator: gen)).ToArray();
        Tensor Loss()
        {
            var o = net.forward(new MmfsNetInput(skips, mid, features, imageMask));
            return o.DownBlockResiduals.Append(o.MidBlockResidual).Zip(weights, (r, w) => (r * w).sum()).Aggregate((a, b) => a + b);
        }
        var runs = CheckpointGradients.Both(net, on => net.GradientCheckpointing = on, [.. skips, mid, .. features], Loss);
        CheckpointGradients.AssertSame(runs, blocks: 5);   // 4 skips + mid
    }
}
