using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>Input of <see cref="VisualTokenizerHead"/>.</summary>
/// <param name="ImageEmbed">[B_I, 1+hw, C] encoder tokens (CLS first, then the h×w grid row-major).</param>
/// <param name="PosEmbed">[1+hw, C] or [1, 1+hw, C] the fixed 2-D sin-cos table resized to the token count (zero CLS row first).</param>
/// <param name="RegionMask">[B_I, 1, Hm, Wm] region mask (any resolution); null = whole image.</param>
/// <param name="MaskTokens">[B_I, M, C] mask-aware tokens (M = 5 in stage 3) prepended to the Q-Former input; null = none.</param>
public sealed record VisualTokenizerHeadInput(Tensor ImageEmbed, Tensor PosEmbed, Tensor? RegionMask = null, Tensor? MaskTokens = null);

/// <summary>Output of <see cref="VisualTokenizerHead"/>.</summary>
/// <param name="VisEmbed">[B_I, Nq, Dq] perceiver output.</param>
/// <param name="TextTokens">[B_I, Nq, D_llm] = proj_t(VisEmbed): the rows written over the image placeholders of the LLM input.</param>
/// <param name="DiffusionCond">[B_I, Nq, D_cond] = proj_i(VisEmbed): the UNet text condition of the CSR loss.</param>
public sealed record VisualTokenizerHeadOutput(Tensor VisEmbed, Tensor TextTokens, Tensor DiffusionCond);

/// <summary>
/// The visual tokenizer after the image encoder (reference §1.3 steps 3–9; paper §2): 
/// <c>pos_ln(pos_proj(tokens)) + pos_embed</c>, region-mask gating of the patch tokens (mask resized
/// bilinearly to the token grid and binarised at &gt; 0), <c>post_ln</c>, optional mask tokens
/// prepended, the 77-query <c>perceiver_resampler</c>, then <c>proj_t</c> into the LLM width and
/// <c>proj_i</c> into the diffusion condition width. <c>proj_t</c>/<c>proj_i</c> start at
/// N(0, 1e-3) weights and zero bias as in DEEM's <c>VisualTokenizer.initialize_weights</c>, so the
/// image tokens start near zero; <c>pos_proj</c> keeps PyTorch's default Linear init.
/// The state-dict keys are those of DEEM's <c>visual_tokenizer</c> module; an owner that also holds
/// the encoder (<c>sniffer</c>) and <c>pos_embed</c> can register <see cref="NamedParts"/> directly
/// under its own name so the keys read <c>visual_tokenizer.pos_proj.weight</c>, etc.
/// </summary>
public sealed class VisualTokenizerHead : nn.Module<VisualTokenizerHeadInput, VisualTokenizerHeadOutput>
{
    private readonly Linear pos_proj;
    private readonly LayerNorm pos_ln;
    private readonly LayerNorm post_ln;
    private readonly PerceiverResampler perceiver_resampler;
    private readonly Linear proj_t;
    private readonly Linear proj_i;

    private readonly long encoderWidth;

    /// <summary>Std of the normal init of <c>proj_t</c> and <c>proj_i</c> (DEEM <c>initialize_weights</c>).</summary>
    public const double ProjectionInitStd = 1e-3;

    /// <param name="perceiverConfig">The resampler; its <c>encoder_hidden_size</c> is the token width C.</param>
    /// <param name="llmHiddenSize">LLM width (4096 for Vicuna-7B).</param>
    /// <param name="diffusionHiddenSize">UNet cross-attention width (1024 for SD 2.1).</param>
    /// <param name="generator">Randomness of the initialisation.</param>
    /// <param name="device">Where the parameters live (meta for parameter counting); null = the default device.</param>
    public VisualTokenizerHead(QFormerConfig perceiverConfig, long llmHiddenSize, long diffusionHiddenSize, Generator? generator = null, Device? device = null)
        : base(nameof(VisualTokenizerHead))
    {
        perceiverConfig.Validate(nameof(perceiverConfig));
        if (llmHiddenSize <= 0) throw new ArgumentOutOfRangeException(nameof(llmHiddenSize), llmHiddenSize, "must be > 0");
        if (diffusionHiddenSize <= 0) throw new ArgumentOutOfRangeException(nameof(diffusionHiddenSize), diffusionHiddenSize, "must be > 0");
        encoderWidth = perceiverConfig.EncoderHiddenSize;
        var dq = perceiverConfig.HiddenSize;

        pos_proj = nn.Linear(encoderWidth, encoderWidth, device: device);
        pos_ln = nn.LayerNorm(encoderWidth, 1e-6, device: device);
        perceiver_resampler = new PerceiverResampler(perceiverConfig, generator, device);
        post_ln = nn.LayerNorm(encoderWidth, 1e-6, device: device);
        proj_t = nn.Linear(dq, llmHiddenSize, device: device);
        proj_i = nn.Linear(dq, diffusionHiddenSize, device: device);
        using (no_grad())
        {
            // PyTorch's default Linear init (kaiming-uniform a=√5 ⇒ U(±1/√fan_in) for weight and bias), drawn from the generator.
            var bound = 1.0 / Math.Sqrt(encoderWidth);
            pos_proj.weight.uniform_(-bound, bound, generator);
            pos_proj.bias!.uniform_(-bound, bound, generator);
            foreach (var proj in new[] { proj_t, proj_i })
            {
                proj.weight.normal_(0.0, ProjectionInitStd, generator);
                proj.bias!.zero_();
            }
        }
        RegisterComponents();
    }

    /// <summary>The resampler (77 learned queries in DEEM).</summary>
    public PerceiverResampler PerceiverResampler => perceiver_resampler;

    /// <summary>The direct children with their state-dict names, for an owner that registers them under its own name.</summary>
    public IEnumerable<(string Name, nn.Module Module)> NamedParts() => named_children();

    public override VisualTokenizerHeadOutput forward(VisualTokenizerHeadInput input)
    {
        using var scope = NewDisposeScope();
        var tokens = input.ImageEmbed;
        if (tokens.dim() != 3 || tokens.shape[2] != encoderWidth)
            throw new ArgumentException($"ImageEmbed: expected [B_I, 1+hw, {encoderWidth}], found [{string.Join(", ", tokens.shape)}]");
        var (BI, T, C) = (tokens.shape[0], tokens.shape[1], tokens.shape[2]);
        var pos = input.PosEmbed.dim() == 2 ? input.PosEmbed.unsqueeze(0) : input.PosEmbed;   // [1, T, C]
        if (pos.dim() != 3 || pos.shape[0] != 1 || pos.shape[1] != T || pos.shape[2] != C)
            throw new ArgumentException($"PosEmbed: expected [{T}, {C}] or [1, {T}, {C}], found [{string.Join(", ", input.PosEmbed.shape)}]");

        var x = pos_ln.forward(pos_proj.forward(tokens)) + pos;                                   // [B_I, T, C]
        if (input.RegionMask is not null)
            x = GatePatchTokens(x, input.RegionMask);                                             // [B_I, T, C]
        x = post_ln.forward(x);                                                                   // [B_I, T, C]
        if (input.MaskTokens is not null)
        {
            var m = input.MaskTokens;
            if (m.dim() != 3 || m.shape[0] != BI || m.shape[2] != C)
                throw new ArgumentException($"MaskTokens: expected [{BI}, M, {C}], found [{string.Join(", ", m.shape)}]");
            x = cat([m.to(x.dtype), x], 1);                                                       // [B_I, M+T, C]
        }

        var vis = perceiver_resampler.forward(new PerceiverInput(x));                             // [B_I, Nq, Dq]
        var text = proj_t.forward(vis);                                                           // [B_I, Nq, D_llm]
        var cond = proj_i.forward(vis);                                                           // [B_I, Nq, D_cond]
        return new VisualTokenizerHeadOutput(vis.MoveToOuterDisposeScope(), text.MoveToOuterDisposeScope(),
            cond.MoveToOuterDisposeScope());
    }

    /// <summary>Zeroes the patch tokens (not CLS) outside the region mask resized to the token grid.</summary>
    private static Tensor GatePatchTokens(Tensor x, Tensor regionMask)
    {
        var (BI, T, C) = (x.shape[0], x.shape[1], x.shape[2]);
        var g = (long)Math.Round(Math.Sqrt(T - 1));
        if (g * g != T - 1)
            throw new ArgumentException($"ImageEmbed: the {T - 1} patch tokens after CLS do not form a square grid");
        if (regionMask.dim() != 4 || regionMask.shape[0] != BI || regionMask.shape[1] != 1)
            throw new ArgumentException($"RegionMask: expected [{BI}, 1, H, W], found [{string.Join(", ", regionMask.shape)}]");
        var m = regionMask.to(x.dtype);                                                           // [B_I, 1, Hm, Wm]
        if (m.shape[2] != g || m.shape[3] != g)
            m = nn.functional.interpolate(m, [g, g], mode: InterpolationMode.Bilinear, align_corners: false); // [B_I, 1, g, g]
        var keep = m.gt(0).to(x.dtype).view(BI, g * g, 1);                                     // [B_I, hw, 1]
        var cls = x.narrow(1, 0, 1);                                                              // [B_I, 1, C]
        var patches = x.narrow(1, 1, T - 1) * keep;                                               // [B_I, hw, C]
        return cat([cls, patches], 1);                                                            // [B_I, T, C]
    }
}
