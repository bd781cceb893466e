using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>
/// First half of the Q-Former's query feed-forward block (HF <c>Blip2QFormerIntermediate</c>,
/// key <c>intermediate_query</c>, reference §1.4): <c>act(dense(x))</c>, H → intermediate_size.
/// </summary>
public sealed class QFormerIntermediate : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly string activation;

    public QFormerIntermediate(long hiddenSize, long intermediateSize, string activation, double initStd, Generator? generator = null, Device? device = null)
        : base(nameof(QFormerIntermediate))
    {
        dense = QFormerInit.Linear(hiddenSize, intermediateSize, initStd, generator, device);
        this.activation = activation;
        RegisterComponents();
    }

    /// <param name="x">[B, N, H].</param>
    /// <returns>[B, N, I].</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = dense.forward(x);                        // [B, N, I]
        return Activate(h, activation).MoveToOuterDisposeScope();
    }

    /// <summary>The HF activation named <paramref name="name"/> (gelu is the exact erf form).</summary>
    internal static Tensor Activate(Tensor x, string name) => name switch
    {
        "gelu" => nn.functional.gelu(x),
        "gelu_new" or "gelu_pytorch_tanh" => 0.5 * x * (1.0 + tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x.pow(3)))),
        "relu" => nn.functional.relu(x),
        "silu" => nn.functional.silu(x),
        _ => throw new ArgumentException($"unsupported hidden_act '{name}'", nameof(name)),
    };
}
