using Deem.Attention;
using Deem.Config;
using Deem.Diffusion;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.Attention.AttentionTestUtil;

namespace Deem.Tests.Attention;

public class MmfsNetTests
{
    // A tiny UNet: block_out_channels (8, 16), one resnet per block → skips conv_in(8) 8×8, resnet(8) 8×8,
    // downsample(8) 4×4, resnet(16) 4×4; rule "three skips per resolution" does not fit, so bases are explicit.
    private static readonly long[] SkipChannels = [8, 8, 8, 16];
    private static readonly long[] SkipSides = [8, 8, 4, 4];
    private const long MidChannels = 16;

    private static MmfsNet Net() =>
        new(SkipChannels, MidChannels, MmfsConfig.MmfsNetTiny, skipBaseSides: SkipSides, posEmbedGrid: 8, generator: new Generator(3));

    private static MmfsNetInput Input(long B, long N, long seed, Tensor? mask = null)
    {
        var g = new Generator((ulong)seed);
        var c = MmfsConfig.MmfsNetTiny;
        var skips = SkipChannels.Select((ch, i) => torch.randn(new[] { B, ch, SkipSides[i], SkipSides[i] }, generator: g)).ToArray();
        var mid = torch.randn(new[] { B, MidChannels, 4L, 4L }, generator: g);
        var features = c.SpatialShapes.Select(s => torch.randn(new[] { B, N, c.DValue, s, s }, generator: g)).ToArray();
        return new MmfsNetInput(skips, mid, features, mask ?? torch.ones(new[] { B, N }, dtype: ScalarType.Bool));
    }

    [Fact]
    public void ResidualsAreExactlyZeroAtInitialisation()
    {
        var output = Net().forward(Input(2, 1, 1));
        Assert.Equal(SkipChannels.Length, output.DownBlockResiduals.Length);
        for (var i = 0; i < SkipChannels.Length; i++)
        {
            Assert.Equal(new[] { 2L, SkipChannels[i], SkipSides[i], SkipSides[i] }, output.DownBlockResiduals[i].shape);
            Assert.Equal(0.0f, output.DownBlockResiduals[i].abs().max().item<float>());
        }
        Assert.Equal(new[] { 2L, MidChannels, 4, 4 }, output.MidBlockResidual.shape);
        Assert.Equal(0.0f, output.MidBlockResidual.abs().max().item<float>());
    }

    [Fact]
    public void GradientsReachTheZeroConvFirstAndThenTheMmfs()
    {
        var net = Net();
        var input = Input(2, 1, 1);
        var p = Params(net);
        Tensor Loss()
        {
            var o = net.forward(input);
            var g = new Generator(9);
            return o.DownBlockResiduals.Append(o.MidBlockResidual)
                .Select(r => (r * torch.randn(r.shape, generator: g)).sum()).Aggregate((a, b) => a + b);
        }

        Loss().backward();
        foreach (var prefix in new[] { "mmfs_down_blocks.0.", "mmfs_down_blocks.3.", "mmfs_mid_block." })
        {
            Assert.True(p[prefix + "conv.weight"].grad!.abs().max().item<float>() > 0, $"{prefix}conv gets no gradient");
            // A zero conv passes no gradient back at the very first step (ControlNet behaviour).
            Assert.Equal(0.0f, p[prefix + "mmfs.value_proj.weight"].grad!.abs().max().item<float>());
        }

        // One SGD step on everything makes the convs nonzero; from then on the MMFS parameters learn.
        using (torch.no_grad())
            foreach (var (_, t) in net.named_parameters())
                if (t.requires_grad && t.grad is not null) t.sub_(t.grad * 0.1);
        net.zero_grad();
        Loss().backward();
        foreach (var prefix in new[] { "mmfs_down_blocks.0.", "mmfs_down_blocks.3.", "mmfs_mid_block." })
        {
            foreach (var k in new[] { "mmfs.value_proj.weight", "mmfs.sampling_offsets.weight", "mmfs.attention_weights.weight",
                         "mmfs.dynamic_offset_mask.weight", "mmfs.output_proj.weight", "mmfs.query_relpos.weight",
                         "query_norm.weight", "feat_norm.weight" })
                Assert.True(p[prefix + k].grad!.abs().max().item<float>() > 0, $"{prefix}{k} gets no gradient");
            Assert.Null(p[prefix + "pos_embed"].grad);
            Assert.Null(p[prefix + "mmfs.ignore_token"].grad);
        }
    }

    [Fact]
    public void WithoutAConditioningImageTheFeaturesDoNotMatter()
    {
        var net = Net();
        Randomize(net, 4, 0.1);
        using (torch.no_grad())
            foreach (var (name, t) in net.named_parameters())
                if (name.EndsWith("ignore_token")) t.zero_();
        var mask = torch.tensor(new[] { false, true }).view(2, 1);                          // batch 0 has no previous image
        var a = net.forward(Input(2, 1, 1, mask));
        var changed = Input(2, 1, 1, mask) with { Features = Input(2, 1, 7).Features };
        var b = net.forward(changed);
        Assert.True(MaxAbsDiff(a.MidBlockResidual[0], b.MidBlockResidual[0]) < 1e-5);
        Assert.True(MaxAbsDiff(a.DownBlockResiduals[0][0], b.DownBlockResiduals[0][0]) < 1e-5);
        Assert.True(MaxAbsDiff(a.MidBlockResidual[1], b.MidBlockResidual[1]) > 1e-4);
    }

    [Fact]
    public void BlocksUseTheirOwnBaseSideAndKeysFollowTheReference()
    {
        var net = Net();
        Assert.Equal(new long[] { 8, 8, 4, 4, 4 }, net.Blocks.Select(b => b.Mmfs.Config.BaseSpatialShape).ToArray());
        Assert.Equal(new long[] { 8, 8, 8, 16, 16 }, net.Blocks.Select(b => b.Mmfs.Config.DQuery).ToArray());
        var sd = net.state_dict();
        foreach (var k in new[] { "mmfs_down_blocks.0.query_norm.weight", "mmfs_down_blocks.0.feat_norm.bias",
                     "mmfs_down_blocks.3.mmfs.sampling_offsets.bias", "mmfs_down_blocks.3.pos_embed", "mmfs_down_blocks.1.conv.weight",
                     "mmfs_mid_block.mmfs.ignore_token", "mmfs_mid_block.mmfs.query_relpos.weight", "mmfs_mid_block.pos_embed" })
            Assert.True(sd.ContainsKey(k), k);
        Assert.Equal(new long[] { 64, 16 }, sd["mmfs_mid_block.pos_embed"].shape);
        Assert.Equal(new long[] { 8, 8, 1, 1 }, sd["mmfs_down_blocks.0.conv.weight"].shape);
        Assert.Equal(5 * (2 + 2 + 12 + 1 + 2), sd.Count);                                    // norms, MMFS, pos_embed, conv
    }

    [Fact]
    public void SinCosTableHasTheMaeLayout()
    {
        const long dim = 8, grid = 4;
        var table = MmfsBlock.SinCos2d(dim, grid);                                           // [16, 8]
        Assert.Equal(new[] { grid * grid, dim }, table.shape);
        // Row k = i·grid + j: [sin(i·ω0), sin(i·ω1), cos(i·ω0), cos(i·ω1), sin(j·ω0), sin(j·ω1), cos(j·ω0), cos(j·ω1)], ω = (1, 0.01).
        var (i, j) = (1, 2);
        var row = Doubles(table[i * grid + j]);
        double[] want = [Math.Sin(i), Math.Sin(i * 0.01), Math.Cos(i), Math.Cos(i * 0.01),
            Math.Sin(j), Math.Sin(j * 0.01), Math.Cos(j), Math.Cos(j * 0.01)];
        for (var d = 0; d < dim; d++) Assert.Equal(want[d], row[d], 6);
    }

    [Fact]
    public void SkipChannelsOfStableDiffusion21()
    {
        Assert.Equal(new long[] { 320, 320, 320, 320, 640, 640, 640, 1280, 1280, 1280, 1280, 1280 },
            MmfsNet.SkipChannelsFor([320, 640, 1280, 1280], 2));
    }
}

[Collection(GlobalTorchStateCollection.Name)]
public class MmfsNetPaperScaleTests
{
    [Fact]
    public void PaperScaleMmfsNetHasTheReferenceParameterCount()
    {
        var (total, trainable, bases) = OnMeta(() =>
        {
            var net = new MmfsNet(MmfsNet.SkipChannelsFor([320, 640, 1280, 1280], 2), 1280, MmfsConfig.MmfsNetPaper);
            var (t, tr) = Count(net);
            return (t, tr, net.Blocks.Select(b => b.Mmfs.Config.BaseSpatialShape).ToArray());
        });
        // Reference §1.11: 56,976,320 trainable + 44,577,792 frozen (13 pos-embeds 4096×C + 13 ignore tokens).
        Assert.Equal(56_976_320L, trainable);
        Assert.Equal(44_577_792L, total - trainable);
        Assert.Equal(new long[] { 64, 64, 64, 32, 32, 32, 16, 16, 16, 8, 8, 8, 8 }, bases);
    }
}

public class MmfsLiveTensorTests
{
    [Fact]
    public void RepeatedForwardsLeaveNoLiveTensorsBehind()
    {
        var net = new MmfsNet([8, 8, 8, 16], 16, MmfsConfig.MmfsNetTiny, skipBaseSides: [8, 8, 4, 4], posEmbedGrid: 8);
        var c = MmfsConfig.MmfsNetTiny;
        var skips = new long[] { 8, 8, 8, 16 }.Select((ch, i) => torch.randn(1, ch, i < 2 ? 8 : 4, i < 2 ? 8 : 4)).ToArray();
        var input = new MmfsNetInput(skips, torch.randn(1, 16, 4, 4),
            c.SpatialShapes.Select(s => torch.randn(new[] { 1L, 1, c.DValue, s, s })).ToArray(), torch.ones(1, 1));
        long Step()
        {
            // No outer scope: everything forward creates must be disposed by its own scopes, except the outputs.
            var o = net.forward(input);
            foreach (var r in o.DownBlockResiduals) r.Dispose();
            o.MidBlockResidual.Dispose();
            return DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        }
        Step();
        var live = Step();
        for (var i = 0; i < 3; i++) Assert.Equal(live, Step());
    }
}
