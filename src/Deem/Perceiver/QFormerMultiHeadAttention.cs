using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>Input of a Q-Former attention block.</summary>
/// <param name="Hidden">[B, Nq, H] query states.</param>
/// <param name="EncoderHidden">[B, S, E] encoder states for cross-attention; null for self-attention.</param>
/// <param name="EncoderBias">[B, 1, 1, S] additive key bias (0 on valid keys, a large negative value on padded ones); null when no key is padded.</param>
public sealed record QFormerAttentionInput(Tensor Hidden, Tensor? EncoderHidden = null, Tensor? EncoderBias = null);

/// <summary>
/// Scaled dot-product multi-head attention of the BLIP-2 Q-Former (HF <c>Blip2QFormerMultiHeadAttention</c>,
/// reference §1.4), with the optional per-head QK-LayerNorm that DEEM/MM-Interleaved patch in
/// (<c>q_norm</c>/<c>k_norm</c>, LayerNorm over head_dim with eps = layer_norm_eps, applied to Q and K
/// after the head split in both self- and cross-attention). In cross-attention the keys and values
/// are projected from <c>encoder_hidden_size</c>. Returns the merged context [B, Nq, H] before the
/// output projection.
/// </summary>
public sealed class QFormerMultiHeadAttention : nn.Module<QFormerAttentionInput, Tensor>
{
    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear value;
    private readonly LayerNorm? q_norm;
    private readonly LayerNorm? k_norm;

    private readonly long numHeads;
    private readonly long headDim;
    private readonly double attnDropout;
    private readonly bool isCross;

    public QFormerMultiHeadAttention(QFormerConfig config, bool isCrossAttention, Generator? generator = null, Device? device = null)
        : base(nameof(QFormerMultiHeadAttention))
    {
        var (h, kv, std) = (config.HiddenSize, isCrossAttention ? config.EncoderHiddenSize : config.HiddenSize, config.InitializerRange);
        numHeads = config.NumAttentionHeads;
        headDim = config.HeadDim;
        attnDropout = config.AttentionProbsDropoutProb;
        isCross = isCrossAttention;
        query = QFormerInit.Linear(h, h, std, generator, device);
        key = QFormerInit.Linear(kv, h, std, generator, device);
        value = QFormerInit.Linear(kv, h, std, generator, device);
        // Key names q_norm / k_norm as in MM-Interleaved's blip2_qknorm_monkey_patch.py, whose patched
        // attention DEEM imports; DEEM's own copy of that file could not be read (only its compiled
        // cache is published), so its names are assumed identical.
        if (config.QkNormalization)
        {
            q_norm = nn.LayerNorm(headDim, config.LayerNormEps, device: device);
            k_norm = nn.LayerNorm(headDim, config.LayerNormEps, device: device);
        }
        RegisterComponents();
    }

    /// <summary>Whether this block attends to encoder states.</summary>
    public bool IsCrossAttention => isCross;

    public override Tensor forward(QFormerAttentionInput input)
    {
        using var scope = NewDisposeScope();
        var hidden = input.Hidden;
        var (B, Nq, H) = (hidden.shape[0], hidden.shape[1], hidden.shape[2]);
        var source = isCross
            ? input.EncoderHidden ?? throw new ArgumentException("cross-attention needs EncoderHidden [B, S, E], found null")
            : hidden;
        var S = source.shape[1];

        var q = query.forward(hidden).view(B, Nq, numHeads, headDim).transpose(1, 2);   // [B, nH, Nq, hD]
        var k = key.forward(source).view(B, S, numHeads, headDim).transpose(1, 2);      // [B, nH, S, hD]
        var v = value.forward(source).view(B, S, numHeads, headDim).transpose(1, 2);    // [B, nH, S, hD]
        if (q_norm is not null) q = q_norm.forward(q);
        if (k_norm is not null) k = k_norm.forward(k);

        var bias = isCross ? input.EncoderBias : null;                                   // [B, 1, 1, S]
        var p = training ? attnDropout : 0.0;
        var ctx = nn.functional.scaled_dot_product_attention(q, k, v, bias, p);          // [B, nH, Nq, hD]
        var merged = ctx.transpose(1, 2).reshape(B, Nq, H);                              // [B, Nq, H]
        return merged.MoveToOuterDisposeScope();
    }
}
