using Deem.Data.Pipeline;
using Deem.Plotting;
using Deem.World;
using Deem.Tests.Data;
using Deem.Text;
using Deem.Training;
using SkiaSharp;

namespace Deem.Tests.Training;

[Collection(TrainingCollection.Name)]
public class PlotAndBadDataTests
{
    [Fact]
    public void PlotDrawsThePngOfAMetricsFile()
    {
        using var dir = new TempDir();
        using (var log = new MetricsLog(dir.Path, keepUpTo: 0))
            for (int s = 1; s <= 5; s++)
                log.Append(new StepMetrics { Step = s, Loss = 10 - s, Ntp = 5 - 0.5 * s, Nip = 1, Csr = 0.5 });
        var metrics = MetricsLog.Read(Path.Combine(dir.Path, MetricsLog.FileName));
        Assert.Equal([9.0, 8, 7, 6, 5], metrics.Select(m => m.Loss));

        string png = dir["plots/loss.png"];
        RunPlots.DrawLoss(metrics, png, 400, 300, "run");
        using var image = SKBitmap.Decode(png);
        Assert.Equal((400, 300), (image.Width, image.Height));
        Assert.Throws<DeemFormatException>(() => RunPlots.DrawLoss([], png, 400, 300, "run"));
    }

    [Fact]
    public void MetricsOfAResumedRunKeepEachStepOnce()
    {
        using var dir = new TempDir();
        using (var log = new MetricsLog(dir.Path, keepUpTo: 0))
            for (int s = 1; s <= 5; s++) log.Append(new StepMetrics { Step = s, Loss = s });
        File.AppendAllText(dir[MetricsLog.FileName], "{\"step\": 6, \"lo");            // torn by the kill
        using (var log = new MetricsLog(dir.Path, keepUpTo: 3))
            log.Append(new StepMetrics { Step = 4, Loss = 40 });
        Assert.Equal([(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0)], MetricsLog.Read(dir[MetricsLog.FileName]).Select(m => (m.Step, m.Loss)));
    }

    [Fact]
    public void BadRecordsAreCountedAndLoggedOrInStrictModeNameTheirFileAndLine()
    {
        using var dir = new TempDir();
        WorldWriter.Make(dir.Path, WorldOptions.Tiny with
        {
            ImageSize = 32,
            Counts = new WorldCounts { Mmc4Docs = 2, CaptionPairs = 2, VqaImages = 0, RegionImages = 0, TestImagesPerSplit = 0 },
        });
        var paths = DataPaths.FromWorld(dir.Path);
        string shard = DataPaths.Mmc4Shards(paths.Mmc4Annotations!)[0];
        File.WriteAllText(shard, "{ this is not json\n" + File.ReadAllText(shard));
        var stage = TrainingWorld.Stage(1, 1) with { InterleavedBatchFraction = 1.0 };

        using (var model = TrainingWorld.Model(stage, seed: 0))
        using (var data = TrainingSetup.OpenStream(stage, paths, WorldTokenizer.Default, model.Config.ImageTokens, strict: false))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir["run"], TensorBoard = false }))
        {
            var result = trainer.Run();
            Assert.True(result.SkipTotals.Values.Sum() >= 1, "the broken line is counted");
            string log = File.ReadAllText(dir["run/" + Trainer.LogFile]);
            Assert.Contains("skipped records: ", log);
            Assert.DoesNotContain("skipped records: none", log);
            Assert.Contains(Path.GetFileName(shard), log);
            Assert.Contains(TrainingCheckpoint.LoadState(result.LastCheckpoint!).SkipCounts, kv => kv.Value >= 1);
        }

        using (var model = TrainingWorld.Model(stage, seed: 0))
        using (var data = TrainingSetup.OpenStream(stage, paths, WorldTokenizer.Default, model.Config.ImageTokens, strict: true))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir["strict"], TensorBoard = false }))
        {
            var e = Assert.Throws<DeemFormatException>(() => trainer.Run());
            Assert.Contains(Path.GetFileName(shard), e.Message);
            Assert.Contains("line 1", e.Message);
        }
    }
}
