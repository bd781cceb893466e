using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Diffusion;

/// <summary>
/// diffusers VAE <c>Decoder</c>: <c>conv_in</c> from the latent → <c>mid_block</c> → <c>up_blocks</c>
/// (UpDecoderBlock2D, channels reversed) → <c>conv_norm_out</c>, SiLU, <c>conv_out</c> to RGB in ≈[−1, 1].
/// </summary>
public sealed class VaeDecoder : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly Conv2d conv_in;
    private readonly VaeMidBlock mid_block;
    private readonly ModuleList<UpDecoderBlock2D> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;
#pragma warning restore IDE0044

    public VaeDecoder(VaeConfig config) : base("Decoder")
    {
        var boc = config.BlockOutChannels;
        int n = boc.Length;
        conv_in = nn.Conv2d(config.LatentChannels, boc[^1], 3, padding: 1);
        mid_block = new VaeMidBlock(boc[^1], config.NormNumGroups);
        up_blocks = new ModuleList<UpDecoderBlock2D>();
        long output = boc[^1];
        for (int i = 0; i < n; i++)
        {
            long prev = output;
            output = boc[n - 1 - i];
            up_blocks.Add(new UpDecoderBlock2D(prev, output, config.LayersPerBlock + 1, addUpsample: i < n - 1, config.NormNumGroups));
        }
        conv_norm_out = Norms.GroupNorm(config.NormNumGroups, boc[0], 1e-6);
        conv_out = nn.Conv2d(boc[0], config.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    /// <param name="z">[B, Cz, h, w] latent (after post_quant_conv, unscaled).</param>
    /// <returns>[B, 3, h·f, w·f]</returns>
    public override Tensor forward(Tensor z)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(z);
        h = mid_block.forward(h);
        foreach (var block in up_blocks) h = block.forward(h);
        h = FewChannelConv.Forward(conv_out, F.silu(conv_norm_out.forward(h)), padding: 1);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers <c>UpDecoderBlock2D</c>: <c>resnets.{j}</c> without time embedding or skips, then <c>upsamplers.0</c>.</summary>
public sealed class UpDecoderBlock2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Upsample2D>? upsamplers;
#pragma warning restore IDE0044

    public UpDecoderBlock2D(long inChannels, long outChannels, int layers, bool addUpsample, long groups)
        : base(nameof(UpDecoderBlock2D))
    {
        resnets = new ModuleList<ResnetBlock2D>();
        for (int j = 0; j < layers; j++)
            resnets.Add(new ResnetBlock2D(j == 0 ? inChannels : outChannels, outChannels, null, groups, 1e-6));
        if (addUpsample) upsamplers = new ModuleList<Upsample2D>(new Upsample2D(outChannels));
        RegisterComponents();
    }

    /// <param name="x">[B, Cin, h, w]</param>
    /// <returns>[B, Cout, 2h, 2w] (or h, w for the last block)</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var r in resnets) x = r.forward(x, null);
        if (upsamplers is not null) x = upsamplers[0].forward(x, null);
        return x.MoveToOuterDisposeScope();
    }
}
