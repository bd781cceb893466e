using System.Text.Json;
using Deem.Model;
using Deem.World.Pretraining;

namespace Deem.Tests.World.Pretraining;

/// <summary><c>Stage0.Run</c> leaves the whole stage-0 folder: the components, their step log and the assembled DEEM model folder.</summary>
[Collection(Stage0Collection.Name)]
public class Stage0Tests(Stage0Fixture world)
{
    [Fact]
    public void LogsEveryStepOfEveryComponent()
    {
        var lines = File.ReadAllLines(Path.Combine(world.Out, Stage0.MetricsFile));
        var rows = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var o = Stage0Fixture.Options;
        Assert.Equal(o.ClipSteps + o.LlmSteps + o.VaeSteps + o.UNetSteps, rows.Count);
        Assert.Equal(["clip", "llm", "vae", "unet"], rows.Select(r => r.GetProperty("component").GetString()).Distinct());
        Assert.All(rows, r => Assert.True(double.IsFinite(r.GetProperty("loss").GetDouble())));
    }

    [Fact]
    public void HoldsEveryImageOnceWithThePairsFirst()
    {
        var d = world.Data;
        long n = d.PairImages.shape[0];
        Assert.Equal(d.Captions.Count, n);
        Assert.True(d.VaeImages.shape[0] > n);                                                   // the MMC4 images follow the pairs
        // The pair images are a view of the same storage, not a copy.
        Assert.Equal(d.VaeImages.storage<float>().data_ptr(), d.PairImages.storage<float>().data_ptr());
        Assert.Equal(d.VaeImages.shape.Skip(1), d.PairImages.shape.Skip(1));
        Assert.True(d.VaeImages.min().item<float>() >= 0 && d.VaeImages.max().item<float>() <= 1);
        Assert.True(d.VaeImages[^1].std().item<float>() > 0);                                    // the last MMC4 image was copied in
    }

    [Fact]
    public void AssemblesADeemModelFolderForStageOne()
    {
        Assert.True(DeemCheckpoint.Exists(world.Out));
        var (model, tokenizer) = DeemCheckpoint.Load(world.Out);
        using (model)
        {
            Assert.Equal(world.Tokenizer.VocabSize, tokenizer.VocabSize);
            // The model reads and rebuilds images at the side its components trained at (the fixture's 32 px, not the preset's 64).
            Assert.Equal((32, 32), (model.Config.EncoderResolution, model.Config.DecoderResolution));
            Assert.Equal(32 / model.Config.Vae.DownsampleFactor, model.Config.UNet.SampleSize);
        }
    }
}
