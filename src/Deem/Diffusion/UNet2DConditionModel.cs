using Deem.Config;
using Deem.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Diffusion;

/// <summary>
/// The UNet's features at the point where DEEM's MMFSNet runs (reference §1.9): after the mid block and
/// before the up blocks.
/// </summary>
/// <param name="Down">The skip tensors in the order the down path produced them (12 for SD-2.1:
/// conv_in output, then per down block its resnet outputs and its downsampler output);
/// channels <see cref="UNetConfig.SkipChannels"/>, strides <see cref="UNetConfig.SkipStrides"/>.</param>
/// <param name="Mid">[B, C_mid, h, w] mid-block output.</param>
public sealed record UNetSkipFeatures(IReadOnlyList<Tensor> Down, Tensor Mid);

/// <summary>
/// Additive residuals for the skip tensors and the mid-block output (ControlNet-style
/// <c>down_block_additional_residuals</c> / <c>mid_block_additional_residual</c>). Each entry must
/// broadcast to its feature; a null entry (or a null <paramref name="Mid"/>) leaves that feature as is.
/// </summary>
public sealed record UNetResiduals(IReadOnlyList<Tensor?> Down, Tensor? Mid);

/// <summary>Input of <see cref="UNet2DConditionModel"/>.</summary>
/// <param name="Sample">[B, C_in, H, W] noisy latent x_t.</param>
/// <param name="Timestep">[B] or scalar timestep t (integer or float).</param>
/// <param name="EncoderHiddenStates">[B, M, cross_attention_dim] condition c.</param>
/// <param name="Residuals">Precomputed residuals, added after the mid block (before the up blocks).</param>
/// <param name="ResidualHook">Called after the mid block with the skip tensors and the mid output; the residuals it
/// returns are added before the up blocks (DEEM's MMFSNet, which reads the features it corrects).</param>
public sealed record UNet2DConditionInput(
    Tensor Sample,
    Tensor Timestep,
    Tensor EncoderHiddenStates,
    UNetResiduals? Residuals = null,
    Func<UNetSkipFeatures, UNetResiduals>? ResidualHook = null);

/// <summary>
/// diffusers <c>UNet2DConditionModel</c> (0.20) for SD-1/2: the denoiser D_DM(x_t, t, c) of paper §2 that
/// DEEM keeps frozen and uses for both NIP (Eq. 3) and CSR (Eq. 5). Parameter names equal the diffusers
/// state dict (<c>conv_in</c>, <c>time_embedding.linear_1</c>, <c>down_blocks.0.attentions.0.…</c>, …).
/// The forward adds optional residuals to the skip tensors and the mid output after the mid block
/// (reference §1.9, the DEEM forward patch that hosts MMFSNet).
/// </summary>
public sealed class UNet2DConditionModel : nn.Module<UNet2DConditionInput, Tensor>
{
#pragma warning disable IDE0044
    private readonly Conv2d conv_in;
    private readonly TimestepEmbedding time_embedding;
    private readonly ModuleList<UNetDownBlock> down_blocks;
    private readonly UNetMidBlock2DCrossAttn mid_block;
    private readonly ModuleList<UNetUpBlock> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;
#pragma warning restore IDE0044

    /// <summary>The configuration the model was built from.</summary>
    public UNetConfig Config { get; }

    /// <summary>Channels of the skip tensors, in production order (see <see cref="UNetConfig.SkipChannels"/>).</summary>
    public IReadOnlyList<int> SkipChannels { get; }

    /// <summary>Channels of the mid-block output.</summary>
    public int MidChannels => Config.MidChannels;

    /// <summary>Recompute each down, mid and up block in the backward pass instead of keeping its activations.</summary>
    public bool GradientCheckpointing { get; set; }

    public UNet2DConditionModel(UNetConfig config) : base(nameof(UNet2DConditionModel))
    {
        Config = config.Validate("UNetConfig");
        SkipChannels = config.SkipChannels();
        var boc = config.BlockOutChannels;
        int n = boc.Length;
        long temb = config.TimeEmbedDim;
        long groups = config.NormNumGroups;
        double eps = config.NormEps;

        conv_in = nn.Conv2d(config.InChannels, boc[0], 3, padding: 1);
        time_embedding = new TimestepEmbedding(boc[0], temb);

        down_blocks = new ModuleList<UNetDownBlock>();
        for (int i = 0; i < n; i++)
        {
            long input = i == 0 ? boc[0] : boc[i - 1];
            down_blocks.Add(new UNetDownBlock(input, boc[i], temb, config.LayersPerBlock,
                crossAttention: config.DownBlockTypes[i] == UNetConfig.CrossAttnDown, addDownsample: i < n - 1,
                config.HeadsOfBlock(i), config.CrossAttentionDim, groups, eps, config.UseLinearProjection, config.DownsamplePadding));
        }

        mid_block = new UNetMidBlock2DCrossAttn(boc[^1], temb, config.HeadsOfBlock(n - 1), config.CrossAttentionDim,
            groups, eps, config.UseLinearProjection);

        up_blocks = new ModuleList<UNetUpBlock>();
        long output = boc[^1];
        for (int i = 0; i < n; i++)
        {
            long prevOutput = output;
            output = boc[n - 1 - i];
            long input = boc[Math.Max(n - 2 - i, 0)];
            up_blocks.Add(new UNetUpBlock(input, output, prevOutput, temb, config.LayersPerBlock + 1,
                crossAttention: config.UpBlockTypes[i] == UNetConfig.CrossAttnUp, addUpsample: i < n - 1,
                config.HeadsOfBlock(n - 1 - i), config.CrossAttentionDim, groups, eps, config.UseLinearProjection));
        }

        conv_norm_out = Norms.GroupNorm(groups, boc[0], eps);
        conv_out = nn.Conv2d(boc[0], config.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    /// <returns>[B, C_out, H, W] the model output (ε or v, as the scheduler config says).</returns>
    public override Tensor forward(UNet2DConditionInput input)
    {
        using var scope = NewDisposeScope();
        var sample = input.Sample;
        var context = input.EncoderHiddenStates;
        if (sample.dim() != 4 || sample.shape[1] != Config.InChannels)
            throw new ArgumentException($"sample: expected [B, {Config.InChannels}, H, W], found [{string.Join(", ", sample.shape)}]");
        var (B, H, W) = (sample.shape[0], sample.shape[2], sample.shape[3]);
        if (context.dim() != 3 || context.shape[0] != B || context.shape[2] != Config.CrossAttentionDim)
            throw new ArgumentException($"encoder_hidden_states: expected [{B}, M, {Config.CrossAttentionDim}], found [{string.Join(", ", context.shape)}]");

        // 1. time: sinusoid(t) → MLP, broadcast to the batch.
        var t = input.Timestep.dim() == 0 ? input.Timestep.reshape(1) : input.Timestep;   // [1] or [B]
        if (t.dim() != 1 || (t.shape[0] != B && t.shape[0] != 1))
            throw new ArgumentException($"timestep: expected a scalar, [1] or [{B}], found [{string.Join(", ", input.Timestep.shape)}]");
        t = t.to(sample.device).expand(B);                                                  // [B]
        var tSin = TimestepEmbedding.Sinusoid(t, Config.BlockOutChannels[0], Config.FlipSinToCos, Config.FreqShift);
        var emb = time_embedding.forward(tSin.to(sample.dtype));                            // [B, 4·C0]

        // 2. down path, keeping every skip tensor.
        long upFactor = 1L << (Config.BlockOutChannels.Length - 1);
        bool forwardUpsampleSize = H % upFactor != 0 || W % upFactor != 0;
        bool recompute = ActivationCheckpoint.Applies(GradientCheckpointing);
        var h = conv_in.forward(sample);                                                     // [B, C0, H, W]
        var skips = new List<Tensor> { h };
        foreach (var block in down_blocks)
        {
            // The block's output map is its last skip tensor.
            var o = recompute
                ? ActivationCheckpoint.RunMany(block, x => block.forward(new UNetBlockInput(x[0]!, x[1]!, x[2]!)).Skips, h, emb, context)
                : block.forward(new UNetBlockInput(h, emb, context)).Skips;
            h = o[^1];
            skips.AddRange(o);
        }

        // 3. mid block.
        h = recompute                                                                        // [B, C_mid, h, w]
            ? ActivationCheckpoint.Run(mid_block, x => mid_block.forward(new UNetBlockInput(x[0]!, x[1]!, x[2]!)), h, emb, context)
            : mid_block.forward(new UNetBlockInput(h, emb, context));

        // 4. additive residuals (ControlNet / DEEM MMFSNet), after the mid block and before the up blocks.
        if (input.Residuals is not null) h = AddResiduals(skips, h, input.Residuals);
        if (input.ResidualHook is not null)
        {
            var r = input.ResidualHook(new UNetSkipFeatures(skips.ToArray(), h));
            h = AddResiduals(skips, h, r);
        }

        // 5. up path, consuming the skips last-in first-out.
        for (int i = 0; i < up_blocks.Count; i++)
        {
            var block = up_blocks[i];
            int k = block.SkipCount;
            var mine = skips.GetRange(skips.Count - k, k).ToArray();
            skips.RemoveRange(skips.Count - k, k);
            long[]? size = null;
            if (i < up_blocks.Count - 1 && forwardUpsampleSize)
                size = [skips[^1].shape[2], skips[^1].shape[3]];
            h = recompute
                ? ActivationCheckpoint.Run(block, x => block.forward(new UNetUpBlockInput(x[0]!, x[1]!, x[2]!, x[3..]!, size)),
                    [h, emb, context, .. mine])
                : block.forward(new UNetUpBlockInput(h, emb, context, mine, size));
        }

        // 6. output head.
        h = FewChannelConv.Forward(conv_out, F.silu(conv_norm_out.forward(h)), padding: 1);                              // [B, C_out, H, W]
        return h.MoveToOuterDisposeScope();
    }

    static Tensor AddResiduals(List<Tensor> skips, Tensor mid, UNetResiduals r)
    {
        if (r.Down.Count != skips.Count)
            throw new ArgumentException($"down residuals: expected {skips.Count} tensors (one per skip), found {r.Down.Count}");
        for (int i = 0; i < skips.Count; i++)
        {
            var res = r.Down[i];
            if (res is null) continue;
            if (res.dim() != 4 || res.shape[1] != skips[i].shape[1])
                throw new ArgumentException($"down residual {i}: expected [B, {skips[i].shape[1]}, H, W], found [{string.Join(", ", res.shape)}]");
            skips[i] = skips[i] + res;
        }
        if (r.Mid is not null)
        {
            if (r.Mid.dim() != 4 || r.Mid.shape[1] != mid.shape[1])
                throw new ArgumentException($"mid residual: expected [B, {mid.shape[1]}, h, w], found [{string.Join(", ", r.Mid.shape)}]");
            mid = mid + r.Mid;
        }
        return mid;
    }
}
