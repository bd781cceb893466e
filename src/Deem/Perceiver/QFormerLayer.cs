using Deem.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>
/// One post-LN Q-Former layer as in HF transformers 4.31 <c>Blip2QFormerLayer</c> restricted to
/// query tokens (reference §1.4): self-attention (<c>attention</c>) → cross-attention to the encoder
/// states (<c>crossattention</c>, only on layers with idx % cross_attention_frequency == 0) → query
/// feed-forward (<c>intermediate_query</c>, <c>output_query</c>). There is no text FFN.
/// </summary>
public sealed class QFormerLayer : nn.Module<QFormerAttentionInput, Tensor>
{
    private readonly QFormerAttention attention;
    private readonly QFormerAttention? crossattention;
    private readonly QFormerIntermediate intermediate_query;
    private readonly QFormerResidualOutput output_query;

    public QFormerLayer(QFormerConfig config, int layerIdx, Generator? generator = null, Device? device = null)
        : base(nameof(QFormerLayer))
    {
        attention = new QFormerAttention(config, isCrossAttention: false, generator, device);
        if (layerIdx % config.CrossAttentionFrequency == 0)
            crossattention = new QFormerAttention(config, isCrossAttention: true, generator, device);
        intermediate_query = new QFormerIntermediate(config.HiddenSize, config.IntermediateSize, config.HiddenAct,
            config.InitializerRange, generator, device);
        output_query = new QFormerResidualOutput(config.IntermediateSize, config.HiddenSize, config.HiddenDropoutProb,
            config.LayerNormEps, config.InitializerRange, generator, device);
        RegisterComponents();
    }

    /// <summary>Whether this layer cross-attends to the encoder states.</summary>
    public bool HasCrossAttention => crossattention is not null;

    /// <returns>[B, Nq, H].</returns>
    public override Tensor forward(QFormerAttentionInput input)
    {
        using var scope = NewDisposeScope();
        var h = attention.forward(input with { EncoderHidden = null, EncoderBias = null });   // [B, Nq, H]
        if (crossattention is not null)
            h = crossattention.forward(input with { Hidden = h });                             // [B, Nq, H]
        var ff = intermediate_query.forward(h);                                                // [B, Nq, I]
        return output_query.forward(ff, h).MoveToOuterDisposeScope();
    }
}
