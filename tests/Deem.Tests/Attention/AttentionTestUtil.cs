using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Attention;

internal static class AttentionTestUtil
{
    public static double[] Doubles(Tensor t) => t.detach().to(ScalarType.Float64).contiguous().data<double>().ToArray();

    public static double MaxAbsDiff(Tensor a, Tensor b) => (a.detach().to(ScalarType.Float64) - b.detach().to(ScalarType.Float64)).abs().max().item<double>();

    /// <summary>Overwrites every parameter (trainable or frozen) with N(0, scale²) from a fixed seed.</summary>
    public static void Randomize(nn.Module module, long seed, double scale)
    {
        var g = new Generator((ulong)seed);
        using var noGrad = torch.no_grad();
        foreach (var (_, p) in module.named_parameters())
            p.copy_(torch.randn(p.shape, generator: g) * scale);
    }

    public static Dictionary<string, Tensor> Params(nn.Module module) =>
        module.named_parameters().ToDictionary(kv => kv.name, kv => (Tensor)kv.parameter);

    /// <summary>Runs <paramref name="build"/> with torch's default device set to meta, restoring CPU afterwards.</summary>
    public static T OnMeta<T>(Func<T> build)
    {
        torch.set_default_device(torch.META);
        try { return build(); }
        finally { torch.set_default_device(torch.CPU); }
    }

    public static (long Total, long Trainable) Count(nn.Module module)
    {
        long total = 0, trainable = 0;
        foreach (var (_, p) in module.named_parameters())
        {
            total += p.numel();
            if (p.requires_grad) trainable += p.numel();
        }
        return (total, trainable);
    }
}
