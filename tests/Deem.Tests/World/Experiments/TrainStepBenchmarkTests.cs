using Deem.World.Experiments;
using Xunit;
using static TorchSharp.torch;

namespace Deem.Tests.World.Experiments;

/// <summary>The step benchmark sets torch's thread count and seeds its global generator: it runs alone.</summary>
[Collection(GlobalTorchStateCollection.Name)]
public class TrainStepBenchmarkTests
{
    [Fact]
    public void VariantsThatAllNameTheirThreadsReportAtTheDefaultCountToo()
    {
        int threads = get_num_threads();
        var result = TrainStepBenchmark.Run(new TrainStepBenchmarkOptions(Pairs: 2, Warmup: 0, Variants: ["csr-fused@1", "no-csr@1"],
            BatchSize: 1, MaxLength: 64, MatmulSize: 64));
        Assert.Equal(threads, get_num_threads());
        Assert.Equal(["csr-fused@1", "no-csr@1"], result.Variants.Select(v => v.Name));
        Assert.All(result.Variants, v => Assert.Equal(2, v.StepSeconds.Count));
        Assert.Contains(threads, result.PeakByThreads.Keys);
        Assert.Contains(1, result.PeakByThreads.Keys);
        Assert.True(result.MatmulGflops.Before > 0 && result.MatmulGflops.After > 0);
        var csr = Assert.Single(result.Ratios, r => r is { A: "csr-fused@1", B: "no-csr@1" });
        Assert.True(csr.Median > 0);
        // CSR adds UNet samples: the FLOP count of the step with it is the larger.
        Assert.True(result.Variants[0].Flops > result.Variants[1].Flops);
    }
}
