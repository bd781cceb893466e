using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>
/// GroupNorm as PyTorch initialises it (γ = 1, β = 0). TorchSharp 0.107's <c>nn.GroupNorm</c> leaves its
/// affine parameters uninitialised (arbitrary memory), so every GroupNorm of the UNet and VAE is built here.
/// </summary>
public static class Norms
{
    /// <summary>A GroupNorm over <paramref name="channels"/> in <paramref name="groups"/> groups with γ = 1, β = 0.</summary>
    public static GroupNorm GroupNorm(long groups, long channels, double eps)
    {
        var norm = nn.GroupNorm(groups, channels, eps);
        using (no_grad())
        {
            norm.weight!.fill_(1.0);
            norm.bias!.zero_();
        }
        return norm;
    }
}
