using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>
/// Parameter counting for the size table of reference §1.11, and construction of paper-scale
/// modules on the meta device (shapes only, no memory) for it.
/// </summary>
public static class ParameterCount
{
    /// <summary>Number of scalar parameters in <paramref name="module"/> and its descendants.</summary>
    public static long Total(nn.Module module) => module.parameters().Sum(p => p.numel());

    /// <summary>Parameters per direct named child, in registration order (children without parameters give 0).</summary>
    public static IReadOnlyList<(string Name, long Count)> PerChild(nn.Module module) =>
        module.named_children().Select(c => (c.name, Total(c.module))).ToList();

    /// <summary>Parameters of the direct parameters and children whose names start with <paramref name="prefix"/>.</summary>
    public static long WithPrefix(nn.Module module, string prefix) =>
        module.named_parameters().Where(p => p.name.StartsWith(prefix, StringComparison.Ordinal)).Sum(p => p.parameter.numel());

    /// <summary>
    /// Runs <paramref name="build"/> with the meta device as the default device, so tensors have shapes
    /// but no storage; the CPU default is restored afterwards, also on error.
    /// </summary>
    public static T OnMeta<T>(Func<T> build)
    {
        torch.set_default_device(torch.META);
        try
        {
            return build();
        }
        finally
        {
            torch.set_default_device(torch.CPU);
        }
    }
}
