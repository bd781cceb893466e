using Deem.Language;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Tests.Language;

/// <summary>
/// Test-only stand-in for the gated MMFS block: each token takes the mean feature of every image it
/// may see (visibility mask), averages them, projects to D and adds it through a tanh gate. Enough
/// to check the decoder's cross-attention plumbing (ordering, masks, KV-cache steps).
/// </summary>
internal sealed class MeanImageCrossAttention : nn.Module<LlamaCrossAttentionInput, Tensor>
{
    private readonly Linear proj;
    private readonly Parameter gate;

    public MeanImageCrossAttention(long visionDim, long hiddenSize, double gateInit = 0.7) : base(nameof(MeanImageCrossAttention))
    {
        proj = nn.Linear(visionDim, hiddenSize);
        gate = new Parameter(tensor(new[] { (float)gateInit }));
        RegisterComponents();
    }

    public override Tensor forward(LlamaCrossAttentionInput input)
    {
        using var scope = NewDisposeScope();
        var h = input.Hidden;                                                      // [B, L, D]
        var means = input.Vision.Values.mean([2]);                                 // [B, N, Dv]
        var vis = input.Vision.Visible.to_type(h.dtype);                           // [B, L, N]
        var count = vis.sum([-1], keepdim: true).clamp_min(1.0);                   // [B, L, 1]
        var ctx = vis.bmm(means) / count;                                          // [B, L, Dv]
        return (h + tanh(gate) * proj.forward(ctx)).MoveToOuterDisposeScope();
    }
}
