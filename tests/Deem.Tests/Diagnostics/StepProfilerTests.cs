using Deem.World;
using Deem.Config;
using Deem.Diagnostics;
using Deem.Diffusion;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Tests.Diagnostics;

/// <summary>The step profiler's sections and the analytic FLOP counts (no timing is asserted, only counts and invariants).</summary>
public class StepProfilerTests
{
    [Fact]
    public void SectionsNestAndCountOnlyWhileStarted()
    {
        using (StepProfiler.Time("outside")) { }
        var p = new StepProfiler();
        StepProfiler.Start(p);
        try
        {
            using (StepProfiler.Time("outer"))
            {
                using (StepProfiler.Time("inner")) { }
                using (StepProfiler.Time("inner")) { }
            }
        }
        finally { StepProfiler.Stop(); }
        using (StepProfiler.Time("after")) { }

        Assert.Equal(1, p.Calls["outer"]);
        Assert.Equal(2, p.Calls["inner"]);
        Assert.False(p.Calls.ContainsKey("outside"));
        Assert.False(p.Calls.ContainsKey("after"));
        Assert.All(p.Seconds.Values, s => Assert.True(s >= 0));
        p.Reset();
        Assert.Empty(p.Calls);
    }

    [Fact]
    public void UNetFlopsScaleWithBatchAndFourfoldWithTheLatentArea()
    {
        var unet = new UNet2DConditionModel(WorldPresets.Tiny.UNet);
        double one = StepFlops.UNetForward(unet, 1, 8, 16);
        Assert.True(one > 0);
        Assert.Equal(3 * one, StepFlops.UNetForward(unet, 3, 8, 16), 1e-9 * one);
        // Doubling the side quadruples every conv/linear position count; self-attention grows 16-fold, so more than 4×.
        Assert.True(StepFlops.UNetForward(unet, 1, 16, 16) > 4 * one);
    }

    [Fact]
    public void StepFlopsCountCsrAsOneMoreUNetSamplePerImage()
    {
        var config = WorldPresets.Tiny;
        using var sd = new StableDiffusion(config, new Generator(1));
        var shape = new StepShape(Rows: 2, Length: 64, Images: 3, MaxImagesPerRow: 2, MaxContext: 20, EncoderSide: 64, DecoderSide: 64);
        var nipOnly = StepFlops.Forward(config, sd, shape, nip: true, csr: false, vaeEncodes: 1);
        var both = StepFlops.Forward(config, sd, shape, nip: true, csr: true, vaeEncodes: 1);
        var separate = StepFlops.Forward(config, sd, shape, nip: true, csr: true, vaeEncodes: 2);
        Assert.Equal(2 * nipOnly[StepProfiler.UNet], both[StepProfiler.UNet], 1e-9 * both[StepProfiler.UNet]);
        Assert.Equal(nipOnly[StepProfiler.Llm], both[StepProfiler.Llm]);
        Assert.Equal(2 * both[StepProfiler.Vae], separate[StepProfiler.Vae], 1e-9 * separate[StepProfiler.Vae]);
        Assert.True(both[StepProfiler.Mmfs] > nipOnly[StepProfiler.Mmfs]);
        var training = StepFlops.Training(both);
        Assert.Equal(both[StepProfiler.Vae], training[StepProfiler.Vae]);
        Assert.Equal(3 * both[StepProfiler.Encoder], training[StepProfiler.Encoder], 1e-9 * training[StepProfiler.Encoder]);

        // NIP denoises only the images with context: 2 of 3 here, CSR all 3.
        var fewer = StepFlops.Forward(config, sd, shape with { ImagesWithContext = 2 }, nip: true, csr: true, vaeEncodes: 1);
        Assert.Equal(5.0 / 6 * both[StepProfiler.UNet], fewer[StepProfiler.UNet], 1e-9 * both[StepProfiler.UNet]);
    }

    [Fact]
    public void CsrCostGrowsWithTheImagesPerRowAndNipSkipsEachRowsFirstImage()
    {
        var config = WorldPresets.Tiny;
        using var sd = new StableDiffusion(config, new Generator(1));
        var rows = StepFlops.CsrCost(config, sd, rows: 2, length: 64, encoderSide: 64, decoderSide: 64, imagesPerRow: [1, 2, 4]);
        Assert.Equal([1L, 2, 4], rows.Select(r => r.ImagesPerRow));
        // One image per row opens its document: NIP denoises nothing, the UNet runs for CSR alone.
        Assert.Equal(0.0, rows[0].WithoutCsr.GetValueOrDefault(StepProfiler.UNet));
        Assert.True(rows[0].WithCsr[StepProfiler.UNet] > 0);
        // n images per row: CSR denoises n, NIP n − 1 per row, so the UNet's FLOPs are (2n − 1) / (n − 1) × NIP's alone.
        Assert.Equal(7.0 / 3, rows[2].WithCsr[StepProfiler.UNet] / rows[2].WithoutCsr[StepProfiler.UNet], 1e-9);
        Assert.Equal(rows[1].WithCsr[StepProfiler.Llm], rows[1].WithoutCsr[StepProfiler.Llm]);
        Assert.True(rows[0].Ratio > 1 && rows[0].Ratio < rows[1].Ratio && rows[1].Ratio < rows[2].Ratio);
        Assert.Throws<ArgumentOutOfRangeException>(() => StepFlops.CsrCost(config, sd, 2, 64, 64, 64, [0]));
    }

    [Fact]
    public void TheShapeOfABatchCountsTheImagesWithContext()
    {
        var config = WorldPresets.Tiny;
        var batch = SyntheticBatch.Interleaved(config, new Generator(3));
        var shape = StepShape.Of(batch.Ids, 3, 64, 64, config.Tokens.Bos, config.Tokens.Soi);
        Assert.Equal(3, shape.Images);
        Assert.Equal(2, shape.ImagesWithContext);          // the image that opens row 1's document has none
        Assert.Equal(2, shape.MaxImagesPerRow);
    }
}
