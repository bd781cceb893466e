using Deem.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>
/// One attention sub-block of a Q-Former layer (HF <c>Blip2QFormerAttention</c>, reference §1.4):
/// multi-head attention (<c>attention</c>) followed by the post-LN residual output (<c>output</c>):
/// <c>LayerNorm(h + dropout(dense(attn(h))))</c>. Self-attention when built with
/// <c>isCrossAttention = false</c>, cross-attention to the encoder states otherwise.
/// </summary>
public sealed class QFormerAttention : nn.Module<QFormerAttentionInput, Tensor>
{
    private readonly QFormerMultiHeadAttention attention;
    private readonly QFormerResidualOutput output;

    public QFormerAttention(QFormerConfig config, bool isCrossAttention, Generator? generator = null, Device? device = null)
        : base(nameof(QFormerAttention))
    {
        attention = new QFormerMultiHeadAttention(config, isCrossAttention, generator, device);
        output = new QFormerResidualOutput(config.HiddenSize, config.HiddenSize, config.HiddenDropoutProb,
            config.LayerNormEps, config.InitializerRange, generator, device);
        RegisterComponents();
    }

    /// <returns>[B, Nq, H].</returns>
    public override Tensor forward(QFormerAttentionInput input)
    {
        using var scope = NewDisposeScope();
        var ctx = attention.forward(input);              // [B, Nq, H]
        return output.forward(ctx, input.Hidden).MoveToOuterDisposeScope();
    }
}
