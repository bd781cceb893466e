using Deem.Config;
using Deem.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>
/// The stack of Q-Former layers (HF <c>Blip2QFormerEncoder</c>, reference §1.4); its only state is
/// the numbered list <c>layer.{i}</c>.
/// </summary>
public sealed class QFormerEncoder : nn.Module<QFormerAttentionInput, Tensor>
{
    private readonly ModuleList<QFormerLayer> layer;

    public QFormerEncoder(QFormerConfig config, Generator? generator = null, Device? device = null)
        : base(nameof(QFormerEncoder))
    {
        layer = new ModuleList<QFormerLayer>();
        for (var i = 0; i < config.NumHiddenLayers; i++)
            layer.Add(new QFormerLayer(config, i, generator, device));
        RegisterComponents();
    }

    /// <summary>Recompute each layer in the backward pass instead of keeping its activations.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>The layers, in order.</summary>
    public IReadOnlyList<QFormerLayer> Layers => layer.ToList();

    /// <returns>[B, Nq, H].</returns>
    public override Tensor forward(QFormerAttentionInput input)
    {
        using var scope = NewDisposeScope();
        var h = input.Hidden;
        bool recompute = ActivationCheckpoint.Applies(GradientCheckpointing);
        foreach (var l in layer)
            h = recompute                                                                     // [B, Nq, H]
                ? ActivationCheckpoint.Run(l, x => l.forward(new QFormerAttentionInput(x[0]!, x[1], x[2])), h, input.EncoderHidden, input.EncoderBias)
                : l.forward(input with { Hidden = h });
        return h.MoveToOuterDisposeScope();
    }
}
