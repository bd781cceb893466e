using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>
/// The post-LN residual step of a BERT-style block (HF <c>Blip2QFormerSelfOutput</c> and
/// <c>Blip2QFormerOutput</c>, reference §1.4): <c>LayerNorm(residual + dropout(dense(x)))</c>.
/// Used after every attention (<c>attention.output</c>, <c>crossattention.output</c>) and after the
/// query FFN (<c>output_query</c>); the LayerNorm keeps HF's capitalised key <c>LayerNorm</c>.
/// </summary>
public sealed class QFormerResidualOutput : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly Dropout dropout;
    private readonly LayerNorm LayerNorm;

    public QFormerResidualOutput(long inFeatures, long hiddenSize, double dropoutProb, double layerNormEps, double initStd, Generator? generator = null, Device? device = null)
        : base(nameof(QFormerResidualOutput))
    {
        dense = QFormerInit.Linear(inFeatures, hiddenSize, initStd, generator, device);
        dropout = nn.Dropout(dropoutProb);
        LayerNorm = nn.LayerNorm(hiddenSize, layerNormEps, device: device);
        RegisterComponents();
    }

    /// <param name="x">[B, N, inFeatures] the block's output before projection.</param>
    /// <param name="residual">[B, N, H] the block's input.</param>
    /// <returns>[B, N, H].</returns>
    public override Tensor forward(Tensor x, Tensor residual)
    {
        using var scope = NewDisposeScope();
        var h = dropout.forward(dense.forward(x));       // [B, N, H]
        return LayerNorm.forward(h + residual).MoveToOuterDisposeScope();
    }
}
