using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// LLaMA's RMSNorm (reference §1.6): <c>w · x / sqrt(mean(x²) + eps)</c>, the mean of squares taken
/// in fp32 and the normalised value cast back to the input dtype before the weight multiplies it,
/// as HF <c>LlamaRMSNorm</c> does. Key: <c>weight</c>.
/// </summary>
public sealed class LlamaRmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    public LlamaRmsNorm(long dim, double eps) : base(nameof(LlamaRmsNorm))
    {
        weight = new Parameter(ones(dim));
        this.eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var inputType = x.dtype;
        bool fp32 = inputType == ScalarType.Float32;            // no casts to make (each is one more call per layer and token)
        var h = fp32 ? x : x.to_type(ScalarType.Float32);
        var variance = h.pow(2).mean([-1], keepdim: true);     // [..., 1]
        h = h * rsqrt(variance + eps);
        return (weight * (fp32 ? h : h.to_type(inputType))).MoveToOuterDisposeScope();
    }
}
