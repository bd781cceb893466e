using Deem.Config;
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

    /// <summary>The layers, in order.</summary>
    public IReadOnlyList<QFormerLayer> Layers => layer.ToList();

    /// <returns>[B, Nq, H].</returns>
    public override Tensor forward(QFormerAttentionInput input)
    {
        using var scope = NewDisposeScope();
        var h = input.Hidden;
        foreach (var l in layer)
            h = l.forward(input with { Hidden = h });    // [B, Nq, H]
        return h.MoveToOuterDisposeScope();
    }
}
