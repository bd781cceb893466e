using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Perceiver;

/// <summary>Shared helpers of the perceiver tests.</summary>
internal static class PerceiverTestUtil
{
    /// <summary>
    /// Builds a module on the meta device (passed explicitly, so the process-wide default device that
    /// parallel tests share is left alone) and counts its parameters; no memory is allocated.
    /// </summary>
    public static long CountOnMeta(Func<Device, nn.Module> make)
    {
        using var m = make(torch.META);
        Assert.All(m.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
        return m.parameters().Sum(p => p.numel());
    }

    /// <summary>Max |a − b|.</summary>
    public static double MaxAbsDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    /// <summary>Gives every LayerNorm weight/bias random values so tests see them.</summary>
    public static void RandomiseNorms(nn.Module m, Generator g)
    {
        using var _ = no_grad();
        foreach (var (name, p) in m.named_parameters())
            if (name.Contains("LayerNorm") || name.Contains("layernorm") || name.Contains("_norm") || name.Contains("_ln"))
                p.copy_(name.EndsWith("weight") ? 1.0 + 0.3 * randn(p.shape, generator: g) : 0.3 * randn(p.shape, generator: g));
    }
}
