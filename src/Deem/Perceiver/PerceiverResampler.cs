using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>Input of <see cref="PerceiverResampler"/>.</summary>
/// <param name="EncoderHidden">[B, S, E] states to resample.</param>
/// <param name="EncoderMask">[B, S] 1 on valid keys, 0 on padding; null = all valid.</param>
/// <param name="QueryEmbeds">[1 or B, Nq, H] replaces the learned queries when given.</param>
public sealed record PerceiverInput(Tensor EncoderHidden, Tensor? EncoderMask = null, Tensor? QueryEmbeds = null);

/// <summary>
/// DEEM's perceiver resampler (MM-Interleaved <c>PerceiverResampler</c>, reference §1.4; paper §2):
/// a learned query parameter <c>queries</c> [1, Nq, H] ~ N(0, initializer_range) read out through a
/// BLIP-2 Q-Former (<c>blip2qformer</c>) that cross-attends to the encoder states. Used twice: the
/// visual tokenizer's 77 × 768 resampler over ConvNeXt tokens and the image decoder's 77 × 1024
/// resampler over the LLM context. State-dict keys match the authors' checkpoints
/// (<c>queries</c>, <c>blip2qformer.layernorm.*</c>, <c>blip2qformer.encoder.layer.{i}.…</c>,
/// and <c>…attention.attention.q_norm/k_norm</c> when QK-norm is on).
/// </summary>
public sealed class PerceiverResampler : nn.Module<PerceiverInput, Tensor>
{
    private readonly QFormerModel blip2qformer;
    private readonly Parameter queries;

    public PerceiverResampler(QFormerConfig config, Generator? generator = null, Device? device = null)
        : base(nameof(PerceiverResampler))
    {
        blip2qformer = new QFormerModel(config, generator, device);
        queries = new Parameter(empty([1, config.NumQueries, config.HiddenSize], device: device));
        using (no_grad())
            queries.normal_(0.0, config.InitializerRange, generator);
        RegisterComponents();
    }

    /// <summary>The configuration this resampler was built from.</summary>
    public QFormerConfig Config => blip2qformer.Config;

    /// <summary>The learned queries [1, Nq, H].</summary>
    public Parameter Queries => queries;

    /// <summary>The Q-Former layers, in order.</summary>
    public IReadOnlyList<QFormerLayer> Layers => blip2qformer.Layers;

    /// <summary>Recompute each Q-Former layer in the backward pass (<see cref="QFormerEncoder.GradientCheckpointing"/>).</summary>
    public bool GradientCheckpointing { get => blip2qformer.GradientCheckpointing; set => blip2qformer.GradientCheckpointing = value; }

    /// <returns>[B, Nq, H].</returns>
    public override Tensor forward(PerceiverInput input)
    {
        using var scope = NewDisposeScope();
        var q = input.QueryEmbeds ?? queries;                                       // [1 or B, Nq, H]
        return blip2qformer.forward(new QFormerModelInput(q, input.EncoderHidden, input.EncoderMask))
            .MoveToOuterDisposeScope();
    }
}
