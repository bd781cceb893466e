using Deem.Config;
using Deem.Perceiver;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>Input of <see cref="ImageDecoder"/>.</summary>
/// <param name="Context">[B_I, L_max, D] reversed per-image context (<see cref="ImageDecoderContext.Extract"/>) already passed through the model's <c>context_feat_proj</c>.</param>
/// <param name="ContextMask">[B_I, L_max] 1 on valid context positions, 0 on padding.</param>
/// <param name="Generator">Randomness of the classifier-free-guidance swap (training only); must live on the context's device. Null = the global generator.</param>
public sealed record ImageDecoderInput(Tensor Context, Tensor ContextMask, Generator? Generator = null);

/// <summary>Output of <see cref="ImageDecoder"/>.</summary>
/// <param name="Condition">[B_I, Nq, Dc] the UNet's <c>encoder_hidden_states</c> (77 × 1024 for SD 2.1).</param>
/// <param name="Unconditioned">[B_I] bool: the image's condition was swapped for the null embedding.</param>
/// <param name="IsCondImage">[B_I] bool: more context than <c>&lt;s&gt;&lt;soi&gt;</c>; NIP loss is kept only for these.</param>
public sealed record ImageDecoderOutput(Tensor Condition, Tensor Unconditioned, Tensor IsCondImage);

/// <summary>
/// DEEM's image decoder conditioning (reference §1.8 steps 4–8; paper §2, Eq. 3): the reversed LLM
/// context of each image, projected by the top-level <c>context_feat_proj</c> (which DEEM owns at
/// model level, so the caller applies it; this module keeps only the checkpoint's
/// <c>image_decoder.*</c> keys), plus a fixed 1-D sin-cos table, goes through the 1-layer decoder
/// Q-Former (<c>perceiver_resampler</c>) to the UNet text-condition shape. In training, each image's
/// condition is replaced with probability <c>uncond_prob</c> by the learned null embedding
/// <c>neg_prompt_embeds</c>, which is also the negative prompt for classifier-free guidance at inference.
/// Pipeline: <c>ctx = ImageDecoderContext.Extract(h, ids, bos, soi)</c> →
/// <c>forward(new(context_feat_proj(ctx.Features), ctx.Mask))</c>.
/// </summary>
public sealed class ImageDecoder : nn.Module<ImageDecoderInput, ImageDecoderOutput>
{
    private readonly PerceiverResampler perceiver_resampler;
    private readonly Parameter neg_prompt_embeds;

    private readonly ImageDecoderConfig config;

    public ImageDecoder(ImageDecoderConfig config, Generator? generator = null, Device? device = null)
        : base(nameof(ImageDecoder))
    {
        this.config = config.Validate(nameof(ImageDecoderConfig));
        var q = config.PerceiverConfig;
        perceiver_resampler = new PerceiverResampler(q, generator, device);
        // N(0, 0.02) until replaced by the SD text encoder's embedding of "" (InitNullEmbedding).
        neg_prompt_embeds = new Parameter(empty([1, q.NumQueries, q.HiddenSize], device: device));
        using (no_grad())
            neg_prompt_embeds.normal_(0.0, 0.02, generator);
        RegisterComponents();
    }

    /// <summary>The configuration this decoder was built from.</summary>
    public ImageDecoderConfig Config => config;

    /// <summary>The learned null condition [1, Nq, Dc] (negative prompt for CFG).</summary>
    public Parameter NullEmbedding => neg_prompt_embeds;

    /// <summary>The decoder Q-Former.</summary>
    public PerceiverResampler PerceiverResampler => perceiver_resampler;

    /// <summary>
    /// Sets the null embedding, e.g. from the SD text encoder run on the empty prompt padded to
    /// Nq tokens ([1, Nq, Dc] or [Nq, Dc]).
    /// </summary>
    public void InitNullEmbedding(Tensor embeds)
    {
        var (nq, dc) = (neg_prompt_embeds.shape[1], neg_prompt_embeds.shape[2]);
        var e = embeds.dim() == 2 ? embeds.unsqueeze(0) : embeds;
        if (e.dim() != 3 || e.shape[0] != 1 || e.shape[1] != nq || e.shape[2] != dc)
            throw new ArgumentException($"embeds: expected [1, {nq}, {dc}] or [{nq}, {dc}], found [{string.Join(", ", embeds.shape)}]");
        using (no_grad())
            neg_prompt_embeds.copy_(e);
    }

    public override ImageDecoderOutput forward(ImageDecoderInput input)
    {
        using var scope = NewDisposeScope();
        var ctx = input.Context;
        var d = config.ContextHiddenSize;
        if (ctx.dim() != 3 || ctx.shape[2] != d)
            throw new ArgumentException($"Context: expected [B_I, L_max, {d}], found [{string.Join(", ", ctx.shape)}]");
        var (BI, Lmax) = (ctx.shape[0], ctx.shape[1]);
        if (Lmax > config.MaxContextLen)
            throw new ArgumentException($"Context: L_max {Lmax} exceeds the sin-cos table length max_context_len {config.MaxContextLen}");

        var pos = ImageDecoderContext.SinCos1D(d, Lmax, ctx.dtype, ctx.device);                 // [L_max, D]
        var x = ctx + pos.unsqueeze(0);                                                           // [B_I, L_max, D]
        var cond = perceiver_resampler.forward(new PerceiverInput(x, input.ContextMask));        // [B_I, Nq, Dc]

        var swapped = zeros(BI, ScalarType.Bool, ctx.device);                                     // [B_I]
        if (training && config.UncondProb > 0)
        {
            var u = rand([BI], ScalarType.Float32, CPU, generator: input.Generator).to(ctx.device); // [B_I], a host draw
            swapped = u.lt(config.UncondProb);                                                   // [B_I]
            cond = where(swapped.view(BI, 1, 1), neg_prompt_embeds.to(cond.dtype), cond);        // [B_I, Nq, Dc]
        }
        var isCond = input.ContextMask.sum(1).gt(2);                                             // [B_I]
        return new ImageDecoderOutput(cond.MoveToOuterDisposeScope(), swapped.MoveToOuterDisposeScope(),
            isCond.MoveToOuterDisposeScope());
    }
}
