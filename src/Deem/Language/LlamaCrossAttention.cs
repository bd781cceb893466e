using Deem.Attention;
using Deem.Diagnostics;
using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// DEEM's gated MMFS cross-attention (<c>llama_cross_attn</c>, reference §1.6), inserted before the FFN
/// of every 4th LLaMA decoder layer: h + tanh(gate)·MMFS(RMSNorm₁(h), RMSNorm₂(vision)), with the
/// scalar <c>gate</c> initialised to 0 so the pretrained LLM is unchanged at the start of training.
/// Every token uses one reference point, the image centre (0.5, 0.5). A token that sees no image
/// reads only the ignore slot (a zero vector), so its update is tanh(gate)·output_proj.bias.
/// Works unchanged for incremental decoding (Hidden [B, 1, D] with Visible [B, 1, N], or with the
/// whole visibility history [B, L, N], whose last row is used).
/// </summary>
public sealed class LlamaCrossAttention : nn.Module<LlamaCrossAttentionInput, Tensor>
{
    private readonly Parameter gate;
    private readonly Mmfs attn;
    private readonly CrossAttentionRmsNorm norm1;
    private readonly CrossAttentionRmsNorm norm2;

    private readonly MmfsConfig _config;

    /// <param name="config">The MMFS shape; d_query = d_out = the LLM hidden size, d_value = image_embed_dim.</param>
    /// <param name="rmsNormEps">The LLM config's <c>rms_norm_eps</c>.</param>
    /// <param name="generator">Random source for the MMFS initialisation.</param>
    /// <param name="name">Module name.</param>
    public LlamaCrossAttention(MmfsConfig config, double rmsNormEps, Generator? generator = null, string name = "llama_cross_attn")
        : base(name)
    {
        config.Validate(nameof(MmfsConfig));
        if (config.DQuery != config.DOut)
            throw new DeemConfigException(nameof(MmfsConfig), "d_out", $"the residual needs d_out = d_query = {config.DQuery}, found {config.DOut}");
        _config = config;
        gate = new Parameter(torch.zeros(1));
        attn = new Mmfs(config, generator, "attn");
        norm1 = new CrossAttentionRmsNorm(config.DQuery, rmsNormEps);
        norm2 = new CrossAttentionRmsNorm(config.DValue, rmsNormEps);
        RegisterComponents();
    }

    /// <summary>The MMFS attention inside the block (for re-initialisation).</summary>
    public Mmfs Attn => attn;

    /// <summary>The scalar gate parameter [1].</summary>
    public Parameter Gate => gate;

    public override Tensor forward(LlamaCrossAttentionInput input)
    {
        using var scope = torch.NewDisposeScope();
        var (hidden, vision) = (input.Hidden, input.Vision);
        if (hidden.dim() != 3 || hidden.shape[2] != _config.DQuery)
            throw new ArgumentException($"Hidden: expected [B, L, {_config.DQuery}], found [{string.Join(", ", hidden.shape)}]");
        var (B, L) = (hidden.shape[0], hidden.shape[1]);

        using var section = StepProfiler.Time(StepProfiler.Mmfs);
        var reference = torch.full(new[] { 1L, L, 2L }, 0.5, dtype: hidden.dtype, device: hidden.device); // [1, L, 2]
        var update = attn.forward(new MmfsInput(
            norm1.forward(hidden),                                                            // [B, L, D]
            reference,
            norm2.forward(vision.Values),                                                     // [B, N, S, Dv]
            vision.SpatialShapes,
            vision.Visible));                                                                 // [B, L, D]
        var result = hidden + gate.tanh() * update;                                           // [B, L, D]
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>LLaMA RMSNorm (x·rsqrt(mean(x²)+eps), variance in fp32) with a learned per-channel <c>weight</c>.</summary>
    private sealed class CrossAttentionRmsNorm : nn.Module<Tensor, Tensor>
    {
        private readonly Parameter weight;
        private readonly double _eps;

        public CrossAttentionRmsNorm(long size, double eps) : base("rms_norm")
        {
            weight = new Parameter(torch.ones(size));
            _eps = eps;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            var variance = x.to(ScalarType.Float32).pow(2).mean(new long[] { -1 }, keepdim: true); // [..., 1]
            var normed = (x * torch.rsqrt(variance + _eps)).to(weight.dtype);                 // [..., C]
            return (weight * normed).MoveToOuterDisposeScope();
        }
    }
}
