using Deem.Config;
using Deem.Diffusion;
using Deem.Diffusion.Schedulers;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.World.Pretraining;

/// <summary>
/// Stage 0d: the text-conditioned UNet standing in for SD 2.1's (reference §1.9), trained as SD is:
/// x₀ = scaled posterior sample of the frozen VAE, t ~ U{0, …, T−1}, x_t from the DDPM schedule,
/// ε-prediction (or v, as the scheduler config says) with MSE. The condition is the frozen CLIP text
/// tower's per-token last states of the caption; with probability <c>UNetUncondProb</c> a caption is
/// replaced by the empty prompt, so classifier-free guidance (and DEEM's null embedding, §1.8) works.
/// </summary>
public static class UNetTrainer
{
    public const string Name = "unet";

    /// <summary>Captions per text-tower call when the conditions are cached.</summary>
    const int TextChunk = 1024;

    /// <summary>Samples per UNet call when <see cref="ConditionUse"/> scores the trained UNet.</summary>
    const int ScoreChunk = 64;

    /// <summary>Trains <paramref name="unet"/> for <c>UNetSteps</c> steps and returns its losses.</summary>
    /// <param name="unet">The UNet to train.</param>
    /// <param name="latents">The frozen VAE's posteriors of the caption-pair images (<see cref="VaeTrainer.Posteriors"/>, row i = pair i).</param>
    /// <param name="scalingFactor">The VAE's latent scale (<see cref="VaeTrainer.ScalingFactor"/>).</param>
    /// <param name="text">The frozen CLIP text tower whose last states condition the UNet.</param>
    /// <param name="scheduler">The DDPM schedule the noise and targets come from.</param>
    /// <param name="data">Captions of the pairs.</param>
    /// <param name="options">Steps, batch size, learning rate, seed, the unconditional share.</param>
    /// <param name="callbacks">Progress and metrics after each step.</param>
    public static ComponentResult Train(UNet2DConditionModel unet, VaePosteriors latents, double scalingFactor, ClipTextEncoder text,
        DdpmScheduler scheduler, Stage0Data data, Stage0Options options, Stage0Callbacks callbacks)
    {
        if (latents.Mean.shape[0] != data.CaptionIds.Count)
            throw new ArgumentException($"{latents.Mean.shape[0]} latent posteriors for {data.CaptionIds.Count} captions", nameof(latents));
        unet.train();
        text.eval();
        // Frozen towers: the conditions are computed once, as the latent posteriors were.
        using var cache = NewDisposeScope();
        Tensor states, nullState;
        var latentMean = latents.Mean;                                                            // [N, 4, h, w]
        var latentStd = latents.Std;                                                              // [N, 4, h, w]
        using (no_grad())
        {
            // In chunks, each freeing its activations: only the states stay.
            var ids = ClipTextEncoder.Tokenize(data.CaptionIds, text.Config);                     // [N, ctx]
            var chunks = new List<Tensor>();
            for (long i = 0; i < ids.shape[0]; i += TextChunk)
            {
                using var chunk = NewDisposeScope();
                chunks.Add(text.forward(ids.narrow(0, i, Math.Min(TextChunk, ids.shape[0] - i))).LastHiddenState.MoveToOuterDisposeScope());
            }
            states = cat(chunks, 0);                                                              // [N, ctx, W]
            nullState = EmptyPromptStates(text);                                                  // [1, ctx, W]
        }

        var batches = new Stage0Batches((int)states.shape[0], options.BatchSize, options.Seed * 7919 + 6);
        var generator = new Generator((ulong)(options.Seed * 7919 + 7));
        var T = scheduler.Config.NumTrainTimesteps;
        Tensor LossOf(int step)
        {
            var idx = batches.Next();
            var B = idx.shape[0];
            var mean = latentMean.index_select(0, idx);
            var x0 = (mean + latentStd.index_select(0, idx) * randn(mean.shape, generator: generator)) * scalingFactor;  // [B, 4, h, w]
            var noise = randn(x0.shape, generator: generator);
            var t = randint(0, T, new[] { B }, generator: generator, dtype: ScalarType.Int64);    // [B]
            var xt = scheduler.AddNoise(x0, noise, t);
            var drop = rand(new[] { B }, generator: generator).lt(options.UNetUncondProb);       // [B]
            var cond = where(drop.view(B, 1, 1), nullState, states.index_select(0, idx));         // [B, ctx, W]
            var pred = unet.forward(new UNet2DConditionInput(xt, t, cond));                       // [B, 4, h, w]
            var target = scheduler.TrainingTarget(x0, noise, t);
            return nn.functional.mse_loss(pred, target);
        }
        return Stage0Loop.Run(Name, unet.parameters().ToList(), Stage0LoopSettings.From(options, options.UNetSteps, options.UNetLearningRate),
            LossOf, callbacks);
    }

    /// <summary>
    /// Whether the trained UNet reads its condition: its ε-MSE (or v-MSE) on the first pairs with each pair's own
    /// caption, with another pair's (rolled by one) and with the empty prompt, at the same latent samples, noise
    /// and timesteps, in eval mode. A critic that rebuilds as well from another caption cannot pass a gradient
    /// to whatever gives it its condition — in DEEM, CSR's gradient into the image encoder (reference §2.3).
    /// </summary>
    /// <param name="unet">The trained UNet.</param>
    /// <param name="latents">The frozen VAE's posteriors of the first pairs' images (row i = pair i).</param>
    /// <param name="scalingFactor">The VAE's latent scale.</param>
    /// <param name="text">The frozen CLIP text tower that conditioned the UNet's training.</param>
    /// <param name="scheduler">The DDPM schedule.</param>
    /// <param name="captionIds">The pairs' caption token ids, at least as many as <paramref name="latents"/> has rows (two or more).</param>
    /// <param name="seed">Seed of the latent samples, noise and timesteps.</param>
    public static UNetConditionUse ConditionUse(UNet2DConditionModel unet, VaePosteriors latents, double scalingFactor, ClipTextEncoder text,
        DdpmScheduler scheduler, IReadOnlyList<IReadOnlyList<int>> captionIds, int seed)
    {
        int n = (int)latents.Mean.shape[0];
        if (n < 2 || captionIds.Count < n) throw new ArgumentException($"{n} latents for {captionIds.Count} captions: need two or more of each", nameof(latents));
        bool wasTraining = unet.training;
        unet.eval();
        text.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var states = text.forward(ClipTextEncoder.Tokenize(captionIds.Take(n).ToList(), text.Config)).LastHiddenState;  // [n, ctx, W]
            var empty = EmptyPromptStates(text).expand(states.shape);                                          // [n, ctx, W]
            using var g = new Generator((ulong)(seed * 7919 + 11));
            var x0 = (latents.Mean + latents.Std * randn(latents.Mean.shape, generator: g)) * scalingFactor;  // [n, 4, h, w]
            var noise = randn(x0.shape, generator: g);
            var t = randint(0, scheduler.Config.NumTrainTimesteps, new[] { (long)n }, generator: g, dtype: ScalarType.Int64);   // [n]
            var xt = scheduler.AddNoise(x0, noise, t);
            var target = scheduler.TrainingTarget(x0, noise, t);
            double Loss(Tensor cond)
            {
                double sum = 0;
                for (int i = 0; i < n; i += ScoreChunk)
                {
                    int m = Math.Min(ScoreChunk, n - i);
                    using var chunk = NewDisposeScope();
                    var pred = unet.forward(new UNet2DConditionInput(xt.narrow(0, i, m), t.narrow(0, i, m), cond.narrow(0, i, m)));   // [m, 4, h, w]
                    sum += (pred - target.narrow(0, i, m)).pow(2).sum().item<float>();
                }
                return sum / target.numel();
            }
            return new UNetConditionUse(Loss(states), Loss(states.roll(1, 0)), Loss(empty), n, WhiteNoiseFloor(scheduler, x0, t));
        }
        finally
        {
            unet.train(wasTraining);
        }
    }

    /// <summary>
    /// The loss of the best predictor linear in x_t that knows only the latents' variance v and the schedule, at the
    /// same draws (for Gaussian latents, x₀ ~ N(0, v) element-wise, the best of all): with x_t = √ᾱ x₀ + √(1−ᾱ) ε
    /// and a target y = a x₀ + b ε (ε: a = 0, b = 1; v-prediction: a = −√(1−ᾱ), b = √ᾱ) its MSE is
    /// Var y − Cov(y, x_t)² / Var x_t, averaged over the drawn timesteps. A UNet at this floor has learnt no
    /// structure of the latents at all — neither from the image nor from its condition.
    /// </summary>
    public static double WhiteNoiseFloor(DdpmScheduler scheduler, Tensor x0, Tensor t)
    {
        using var scope = NewDisposeScope();
        var v = x0.var().item<float>();
        var ab = scheduler.AlphasCumprod.to(float64).index_select(0, t);                         // [n]
        var (a, b) = scheduler.Config.PredictionType == SchedulerConfig.VPrediction ? (-(1.0 - ab).sqrt(), ab.sqrt()) : (zeros_like(ab), ones_like(ab));
        var varY = a * a * v + b * b;
        var cov = a * ab.sqrt() * v + b * (1.0 - ab).sqrt();
        var varX = ab * v + (1.0 - ab);
        return (varY - cov * cov / varX).mean().item<double>();
    }

    /// <summary>The text tower's last states [1, ctx, W] on the empty prompt (bos, eos, padding).</summary>
    public static Tensor EmptyPromptStates(ClipTextEncoder text)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = ClipTextEncoder.Tokenize([Array.Empty<int>()], text.Config);                  // [1, ctx]
        return text.forward(ids).LastHiddenState.MoveToOuterDisposeScope();
    }
}

/// <summary>The trained UNet's loss with each pair's own caption, another pair's and the empty prompt (<see cref="UNetTrainer.ConditionUse"/>).</summary>
/// <param name="Own">Loss conditioned on each pair's own caption.</param>
/// <param name="Shuffled">Loss conditioned on another pair's caption.</param>
/// <param name="Empty">Loss conditioned on the empty prompt.</param>
/// <param name="Pairs">Pairs measured.</param>
/// <param name="WhiteNoise">The loss of a predictor that knows only the latents' variance (<see cref="UNetTrainer.WhiteNoiseFloor"/>), at the same draws.</param>
public sealed record UNetConditionUse(double Own, double Shuffled, double Empty, int Pairs, double WhiteNoise)
{
    /// <summary>(Shuffled − Own) / Own: 0 when the UNet ignores which caption it is given.</summary>
    public double Gap => Own > 0 ? (Shuffled - Own) / Own : 0.0;
}
