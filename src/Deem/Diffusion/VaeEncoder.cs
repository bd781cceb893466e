using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Diffusion;

/// <summary>
/// diffusers VAE <c>Encoder</c>: <c>conv_in</c> → <c>down_blocks</c> (DownEncoderBlock2D) → <c>mid_block</c>
/// → <c>conv_norm_out</c>, SiLU, <c>conv_out</c> to 2 × latent channels (mean and log-variance of q(z|x)).
/// </summary>
public sealed class VaeEncoder : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly Conv2d conv_in;
    private readonly ModuleList<DownEncoderBlock2D> down_blocks;
    private readonly VaeMidBlock mid_block;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;
#pragma warning restore IDE0044

    public VaeEncoder(VaeConfig config) : base("Encoder")
    {
        var boc = config.BlockOutChannels;
        int n = boc.Length;
        conv_in = nn.Conv2d(config.InChannels, boc[0], 3, padding: 1);
        down_blocks = new ModuleList<DownEncoderBlock2D>();
        for (int i = 0; i < n; i++)
            down_blocks.Add(new DownEncoderBlock2D(i == 0 ? boc[0] : boc[i - 1], boc[i], config.LayersPerBlock,
                addDownsample: i < n - 1, config.NormNumGroups));
        mid_block = new VaeMidBlock(boc[^1], config.NormNumGroups);
        conv_norm_out = Norms.GroupNorm(config.NormNumGroups, boc[^1], 1e-6);
        conv_out = nn.Conv2d(boc[^1], 2 * config.LatentChannels, 3, padding: 1);
        RegisterComponents();
    }

    /// <param name="x">[B, 3, H, W] image in [−1, 1].</param>
    /// <returns>[B, 2·Cz, H/f, W/f] encoder moments (before quant_conv).</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(x);
        foreach (var block in down_blocks) h = block.forward(h);
        h = mid_block.forward(h);
        h = FewChannelConv.Forward(conv_out, F.silu(conv_norm_out.forward(h)), padding: 1);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers <c>DownEncoderBlock2D</c>: <c>resnets.{j}</c> without time embedding, then <c>downsamplers.0</c> (pad 0 + asymmetric pad).</summary>
public sealed class DownEncoderBlock2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Downsample2D>? downsamplers;
#pragma warning restore IDE0044

    public DownEncoderBlock2D(long inChannels, long outChannels, int layers, bool addDownsample, long groups)
        : base(nameof(DownEncoderBlock2D))
    {
        resnets = new ModuleList<ResnetBlock2D>();
        for (int j = 0; j < layers; j++)
            resnets.Add(new ResnetBlock2D(j == 0 ? inChannels : outChannels, outChannels, null, groups, 1e-6));
        if (addDownsample) downsamplers = new ModuleList<Downsample2D>(new Downsample2D(outChannels, padding: 0));
        RegisterComponents();
    }

    /// <param name="x">[B, Cin, H, W]</param>
    /// <returns>[B, Cout, H/2, W/2] (or H, W for the last block)</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var r in resnets) x = r.forward(x, null);
        if (downsamplers is not null) x = downsamplers[0].forward(x);
        return x.MoveToOuterDisposeScope();
    }
}
