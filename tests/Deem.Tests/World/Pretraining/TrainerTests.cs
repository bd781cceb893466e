using Deem.Diffusion;
using Deem.Diffusion.Schedulers;
using Deem.Language;
using Deem.World.Pretraining;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;
using S0 = Deem.World.Pretraining.Stage0;

namespace Deem.Tests.World.Pretraining;

/// <summary>Each stage-0 loop lowers its loss in a short run on the tiny world, and reports every step.</summary>
[Collection(Stage0Collection.Name)]
public class TrainerTests(Stage0Fixture world)
{
    static void AssertFalls(ComponentResult r, int steps)
    {
        Assert.Equal(steps, r.Losses.Count);
        Assert.All(r.Losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(r.TailMean(3) < r.HeadMean(3), $"{r.Component}: first-3 mean {r.HeadMean(3):F4}, last-3 mean {r.TailMean(3):F4}");
    }

    Stage0Options Opts(int steps, int batch = 8) => Stage0Fixture.Options with
    {
        ClipSteps = steps, LlmSteps = steps, VaeSteps = steps, UNetSteps = steps, BatchSize = batch, LlmBatchSize = batch, VaeBatchSize = batch,
    };

    [Fact]
    public void ClipLossFallsAndCallbacksSeeEveryStep()
    {
        var deem = S0.TinyConfig(world.Tokenizer);
        manual_seed(0);
        using var clip = new ClipModel(deem.Vision, S0.ClipTextFor(deem, world.Tokenizer), new Generator(0));
        var seen = new List<Stage0Step>();
        var r = ClipTrainer.Train(clip, world.Data, Opts(20), new Stage0Callbacks(Metrics: seen.Add));
        AssertFalls(r, 20);
        Assert.Equal(Enumerable.Range(1, 20), seen.Select(s => s.Step));
        Assert.All(seen, s => Assert.True(s.ItPerSec > 0 && s.LearningRate > 0 && s.Component == "clip"));
        Assert.True(clip.LogitScale.item<float>() <= ClipModel.MaxLogitScale + 1e-6);
    }

    [Fact]
    public void LiveTensorCountIsFlatAcrossSteps()
    {
        var deem = S0.TinyConfig(world.Tokenizer);
        using var clip = new ClipModel(deem.Vision, S0.ClipTextFor(deem, world.Tokenizer), new Generator(0));
        var counts = new List<long>();
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        ClipTrainer.Train(clip, world.Data, Opts(6, batch: 4), new Stage0Callbacks(Progress: _ => counts.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount)));
        Assert.Equal(6, counts.Count);
        Assert.All(counts.Skip(2), c => Assert.Equal(counts[1], c));   // optimizer state appears at the first step
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void LlmLossFalls()
    {
        var deem = S0.TinyConfig(world.Tokenizer);
        manual_seed(0);
        using var llm = new LlamaForCausalLM(S0.LlmFor(deem), generator: new Generator(0));
        AssertFalls(LlmTrainer.Train(llm, world.Data, Opts(15), Stage0Callbacks.None), 15);
    }

    [Fact]
    public void VaeLossFalls()
    {
        var deem = S0.TinyConfig(world.Tokenizer);
        manual_seed(0);
        using var vae = new AutoencoderKL(deem.Vae);
        AssertFalls(VaeTrainer.Train(vae, world.Data, Opts(15), Stage0Callbacks.None), 15);
        using var posteriors = VaeTrainer.Posteriors(vae, world.Data.VaeImages);
        var s = VaeTrainer.ScalingFactor(posteriors, 0);
        Assert.True(s > 0 && double.IsFinite(s));
    }

    [Theory]
    [InlineData(Deem.Config.SchedulerConfig.Epsilon, 1.0)]
    [InlineData(Deem.Config.SchedulerConfig.Epsilon, 0.3)]
    [InlineData(Deem.Config.SchedulerConfig.VPrediction, 0.7)]
    public void TheWhiteNoiseFloorIsTheLossOfTheBestPredictorThatKnowsOnlyTheVariance(string prediction, double variance)
    {
        // Gaussian latents of the given variance: E[y | x_t] = Cov(y, x_t) / Var(x_t) · x_t, whose empirical MSE is the floor.
        var scheduler = new DdpmScheduler(S0.TinyConfig(world.Tokenizer).Scheduler with { PredictionType = prediction });
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        var x0 = randn(new long[] { 4096, 4, 4, 4 }, generator: g) * Math.Sqrt(variance);   // [n, 4, h, w]
        var noise = randn(x0.shape, generator: g);
        var t = randint(0, scheduler.Config.NumTrainTimesteps, new long[] { x0.shape[0] }, generator: g, dtype: ScalarType.Int64);
        var xt = scheduler.AddNoise(x0, noise, t);
        var target = prediction == Deem.Config.SchedulerConfig.VPrediction ? scheduler.GetVelocity(x0, noise, t) : noise;
        var ab = scheduler.AlphasCumprod.index_select(0, t).view(-1, 1, 1, 1);                  // [n, 1, 1, 1]
        var (a, b) = prediction == Deem.Config.SchedulerConfig.VPrediction ? (-(1 - ab).sqrt(), ab.sqrt()) : (zeros_like(ab), ones_like(ab));
        var best = (a * ab.sqrt() * variance + b * (1 - ab).sqrt()) / (ab * variance + (1 - ab)) * xt;
        var empirical = (best - target).pow(2).mean().item<float>();
        var floor = UNetTrainer.WhiteNoiseFloor(scheduler, x0, t);
        Assert.InRange(floor, 0.02, 1.0);
        Assert.True(Math.Abs(empirical - floor) < 0.02 * floor, $"{prediction}, v = {variance}: empirical {empirical:F5}, floor {floor:F5}");
        // Any other linear gain does worse: the floor is the best a structure-blind predictor can do.
        Assert.True(((best * 0.8) - target).pow(2).mean().item<float>() > empirical);
    }

    [Fact]
    public void TheLatentSignalShareSplitsTheImagesVarianceFromThePosteriorsNoise()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(6);
        var mean = randn(new long[] { 512, 4, 3, 3 }, generator: g) * 2.0;                      // Var μ ≈ 4
        Assert.Equal(0.0, new VaePosteriors(zeros_like(mean), ones_like(mean)).SignalShare());
        Assert.Equal(1.0, new VaePosteriors(mean, zeros_like(mean)).SignalShare());
        var share = new VaePosteriors(mean, full_like(mean, 2.0)).SignalShare();                // 4 / (4 + 4)
        Assert.InRange(share, 0.48, 0.52);
    }

    sealed record Diffusion(Deem.Config.DeemConfig Deem, ClipTextEncoder Text, UNet2DConditionModel UNet, VaePosteriors Latents) : IDisposable
    {
        public void Dispose() { Text.Dispose(); UNet.Dispose(); Latents.Dispose(); }
    }

    /// <summary>A fresh text tower, UNet and the pairs' posteriors under a fresh VAE, from torch's seeded generator.</summary>
    Diffusion FreshDiffusion()
    {
        var deem = S0.TinyConfig(world.Tokenizer);
        manual_seed(0);
        var text = new ClipTextEncoder(S0.ClipTextFor(deem, world.Tokenizer), new Generator(1));
        using var vae = new AutoencoderKL(deem.Vae);
        var unet = new UNet2DConditionModel(deem.UNet);
        return new Diffusion(deem, text, unet, VaeTrainer.Posteriors(vae, world.Data.PairImages));
    }

    [Fact]
    public void UNetLossFallsOnFrozenTextStates()
    {
        using var d = FreshDiffusion();
        var (deem, text, unet, latents) = (d.Deem, d.Text, d.UNet, d.Latents);
        var before = text.state_dict()["token_embedding.weight"].clone();
        var r = UNetTrainer.Train(unet, latents, deem.Vae.ScalingFactor, text, new DdpmScheduler(deem.Scheduler), world.Data, Opts(30), Stage0Callbacks.None);
        AssertFalls(r, 30);
        Assert.True(before.allclose(text.state_dict()["token_embedding.weight"], 0, 0));
    }

    [Fact]
    public void TheUNetsConditionGapIsZeroExactlyWhenItsCrossAttentionIsClosed()
    {
        using var d = FreshDiffusion();
        var (deem, text, unet, latents) = (d.Deem, d.Text, d.UNet, d.Latents);
        var scheduler = new DdpmScheduler(deem.Scheduler);
        Assert.True(world.Data.CaptionIds.Take(2).Select(c => string.Join(',', c)).Distinct().Count() == 2, "two different captions");

        var open = UNetTrainer.ConditionUse(unet, latents, deem.Vae.ScalingFactor, text, scheduler, world.Data.CaptionIds, seed: 3);
        Assert.Equal(latents.Mean.shape[0], open.Pairs);
        Assert.True(open.Own > 0 && Math.Abs(open.Gap) > 1e-6, $"a freshly drawn cross-attention reads its condition: gap {open.Gap}");
        Assert.Equal(open, UNetTrainer.ConditionUse(unet, latents, deem.Vae.ScalingFactor, text, scheduler, world.Data.CaptionIds, seed: 3));   // same draws

        using (no_grad())
            foreach (var (name, p) in unet.named_parameters())
                if (name.Contains(".attn2.to_out.", StringComparison.Ordinal)) p.zero_();
        var closed = UNetTrainer.ConditionUse(unet, latents, deem.Vae.ScalingFactor, text, scheduler, world.Data.CaptionIds, seed: 3);
        Assert.Equal(closed.Own, closed.Shuffled);
        Assert.Equal(closed.Own, closed.Empty);
        Assert.Equal(0.0, closed.Gap);
    }

    [Fact]
    public void StageZeroRecordsWhetherItsUNetReadsTheCaption()
    {
        var c = Assert.IsType<UNetConditionUse>(world.Summary.UNetCondition);
        Assert.Equal(Math.Min(S0.ConditionPairs, world.Data.PairImages.shape[0]), c.Pairs);
        Assert.True(c.Own > 0 && c.Shuffled > 0 && c.Empty > 0);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(world.Out, S0.SummaryFile)));
        Assert.Equal(c.Gap, doc.RootElement.GetProperty("unet_condition").GetProperty("gap").GetDouble(), 12);
        Assert.True(c.WhiteNoise > 0 && double.IsFinite(c.WhiteNoise));
        Assert.Equal(c.WhiteNoise, doc.RootElement.GetProperty("unet_condition").GetProperty("white_noise_floor").GetDouble(), 12);
        var share = Assert.IsType<double>(world.Summary.LatentSignalShare);
        Assert.InRange(share, 0.0, 1.0);
        Assert.Equal(share, doc.RootElement.GetProperty("vae_latent_signal_share").GetDouble(), 12);
    }
}
