using Deem.Diagnostics;
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

    [Fact]
    public void WithTheVaeCacheTheVaeCountsOnlyTheImagesItEncodedInTheTimedRounds()
    {
        TrainStepBenchmarkResult Run(bool cache) => TrainStepBenchmark.Run(new TrainStepBenchmarkOptions(Pairs: 4, Warmup: 2,
            Variants: ["csr-fused", "no-csr"], MaxLength: 64, MatmulSize: 64, VaeCache: cache));
        var plain = Run(cache: false);
        var cached = Run(cache: true);
        double Vae(TrainStepVariantResult v) => v.TrainingFlops[StepProfiler.Vae];
        // Every image encoded: both variants encode the same batches once per step.
        Assert.True(Vae(plain.Variants[0]) > 0);
        Assert.Equal(Vae(plain.Variants[0]), Vae(plain.Variants[1]), 1e-9 * Vae(plain.Variants[0]));
        // The small world repeats its images within six rounds: with the cache the VAE encodes fewer of them, the rest of the step the same.
        Assert.All(cached.Variants.Zip(plain.Variants), p =>
        {
            Assert.True(Vae(p.First) < Vae(p.Second), $"{p.First.Name}: {Vae(p.First)} vs {Vae(p.Second)}");
            Assert.Equal(p.Second.TrainingFlops[StepProfiler.UNet], p.First.TrainingFlops[StepProfiler.UNet]);
        });
    }
}
