using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// LLaMA's SwiGLU feed-forward (reference §1.6): <c>down_proj(silu(gate_proj(x)) · up_proj(x))</c>,
/// no biases. Keys: <c>gate_proj</c>, <c>up_proj</c>, <c>down_proj</c>.
/// </summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;

    public LlamaMlp(long hiddenSize, long intermediateSize, bool bias = false) : base(nameof(LlamaMlp))
    {
        gate_proj = nn.Linear(hiddenSize, intermediateSize, hasBias: bias);
        up_proj = nn.Linear(hiddenSize, intermediateSize, hasBias: bias);
        down_proj = nn.Linear(intermediateSize, hiddenSize, hasBias: bias);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x);   // [B, L, F]
        return down_proj.forward(h).MoveToOuterDisposeScope();                   // [B, L, D]
    }
}
