using Deem.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diffusion.Schedulers;

/// <summary>
/// Denoising diffusion probabilistic model scheduler (Ho et al. 2020, "DDPM"), as diffusers'
/// <c>DDPMScheduler</c> with variance_type "fixed_small" and no thresholding. It noises latents for the
/// NIP/CSR training losses (paper Eqs. 3, 5: <see cref="AddNoise"/>) and samples images at inference
/// (reference §4.2: DEEM generates with SD's own DDPM scheduler, 250 steps).
/// <para>Notation (code → paper):</para>
/// <list type="table">
/// <item><term>betas[t]</term><description>β_t</description></item>
/// <item><term>alpha_t = 1 − β_t</term><description>α_t</description></item>
/// <item><term>AlphasCumprod[t]</term><description>ᾱ_t = Π_{s≤t} α_s</description></item>
/// <item><term>sample</term><description>x_t</description></item>
/// <item><term>pred_x0</term><description>x̂_0, the model's estimate of x_0</description></item>
/// <item><term>prev_t</term><description>the next timestep of the inference sequence (t − ⌊T/n⌋)</description></item>
/// </list>
/// </summary>
public sealed class DdpmScheduler
{
    /// <summary>The schedule's configuration.</summary>
    public SchedulerConfig Config { get; }

    /// <summary>[T] float32 β_t.</summary>
    public Tensor Betas { get; }

    /// <summary>[T] float32 ᾱ_t.</summary>
    public Tensor AlphasCumprod { get; }

    /// <summary>The current inference timesteps, descending (all T training steps until <see cref="SetTimesteps"/>).</summary>
    public long[] Timesteps { get; private set; }

    /// <summary>Number of inference steps, or null before <see cref="SetTimesteps"/> (then a step moves t → t − 1).</summary>
    public int? NumInferenceSteps { get; private set; }

    /// <summary>Standard deviation of the initial noise x_T (1 for DDPM).</summary>
    public double InitNoiseSigma => 1.0;

    readonly float[] _alphasCumprod;

    public DdpmScheduler(SchedulerConfig config)
    {
        Config = config.Validate("SchedulerConfig");
        Betas = NoiseSchedule.Betas(config).DetachFromDisposeScope();
        AlphasCumprod = NoiseSchedule.AlphasCumprod(Betas).DetachFromDisposeScope();
        _alphasCumprod = AlphasCumprod.data<float>().ToArray();
        Timesteps = Enumerable.Range(0, config.NumTrainTimesteps).Reverse().Select(i => (long)i).ToArray();
    }

    /// <summary>Chooses the n inference timesteps (spacing and steps_offset from the config; SD, 50 steps: 981, 961, …, 1).</summary>
    public void SetTimesteps(int numInferenceSteps)
    {
        Timesteps = NoiseSchedule.InferenceTimesteps(Config, numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
    }

    /// <summary>
    /// Forward process q(x_t | x_0) in closed form (DDPM Eq. 4 reparameterised, the training input of Eq. 14):
    /// x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε.
    /// </summary>
    /// <param name="x0">[B, …] clean latents.</param>
    /// <param name="noise">[B, …] ε ~ N(0, I).</param>
    /// <param name="t">[B] integer timesteps.</param>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor t)
    {
        using var scope = NewDisposeScope();
        var a = NoiseSchedule.Gather(AlphasCumprod, t, x0); // [B, 1, 1, 1]
        return (a.sqrt() * x0 + (1 - a).sqrt() * noise).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The v-prediction target (Salimans &amp; Ho 2022, §4): v = √ᾱ_t · ε − √(1 − ᾱ_t) · x_0.
    /// </summary>
    public Tensor GetVelocity(Tensor x0, Tensor noise, Tensor t)
    {
        using var scope = NewDisposeScope();
        var a = NoiseSchedule.Gather(AlphasCumprod, t, x0); // [B, 1, 1, 1]
        return (a.sqrt() * noise - (1 - a).sqrt() * x0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// What the UNet learns to predict under the config's <c>prediction_type</c>: ε, or v (<see cref="GetVelocity"/>).
    /// Throws <see cref="DeemConfigException"/> for "sample", which the training losses do not support.
    /// </summary>
    public Tensor TrainingTarget(Tensor x0, Tensor noise, Tensor t) => Config.PredictionType switch
    {
        SchedulerConfig.Epsilon => noise,
        SchedulerConfig.VPrediction => GetVelocity(x0, noise, t),
        var p => throw new DeemConfigException("scheduler", "prediction_type", $"training supports epsilon and v_prediction, found '{p}'"),
    };

    /// <summary>The timestep after t in the inference sequence: t − ⌊T/n⌋ (t − 1 before SetTimesteps).</summary>
    public long PreviousTimestep(long t) => t - Config.NumTrainTimesteps / (NumInferenceSteps ?? Config.NumTrainTimesteps);

    /// <summary>
    /// One ancestral step x_t → x_{prev_t} of the reverse process p(x_{t−1} | x_t) (DDPM §3.2).
    /// <list type="number">
    /// <item>ᾱ_t, ᾱ_prev (1 when prev_t &lt; 0), β̄_t = 1 − ᾱ_t, and the effective α_t = ᾱ_t / ᾱ_prev, β_t = 1 − α_t.</item>
    /// <item>x̂_0 from the model output (DDPM Eq. 15): ε: (x_t − √β̄_t · ε̂) / √ᾱ_t;
    ///   v: √ᾱ_t · x_t − √β̄_t · v̂; sample: the output itself.</item>
    /// <item>Optionally clip x̂_0 to [−r, r] (clip_sample).</item>
    /// <item>Posterior mean μ̃_t (DDPM Eq. 7): √ᾱ_prev · β_t / β̄_t · x̂_0 + √α_t · (1 − ᾱ_prev) / β̄_t · x_t.</item>
    /// <item>Posterior variance β̃_t = (1 − ᾱ_prev) / (1 − ᾱ_t) · β_t (Eq. 7, "fixed_small"), clamped at 1e-20.</item>
    /// <item>x_prev = μ̃_t + √β̃_t · z with z ~ N(0, I) from <paramref name="generator"/>; no noise at t = 0.</item>
    /// </list>
    /// </summary>
    /// <param name="modelOutput">[B, C, H, W] ε̂, v̂ or x̂_0, as prediction_type says.</param>
    /// <param name="t">The current timestep.</param>
    /// <param name="sample">[B, C, H, W] x_t.</param>
    /// <param name="generator">Source of z (the global generator when null).</param>
    public SchedulerStepOutput Step(Tensor modelOutput, long t, Tensor sample, Generator? generator = null)
    {
        if (t < 0 || t >= Config.NumTrainTimesteps)
            throw new ArgumentOutOfRangeException(nameof(t), $"timestep must be in [0, {Config.NumTrainTimesteps}), found {t}");
        using var scope = NewDisposeScope();
        // 1. alphas and betas
        long prevT = PreviousTimestep(t);
        double alphaProdT = _alphasCumprod[t];
        double alphaProdPrev = prevT >= 0 ? _alphasCumprod[prevT] : 1.0;
        double betaProdT = 1 - alphaProdT;
        double betaProdPrev = 1 - alphaProdPrev;
        double currentAlphaT = alphaProdT / alphaProdPrev;
        double currentBetaT = 1 - currentAlphaT;

        // 2. predicted x_0 (Eq. 15)
        var predX0 = Config.PredictionType switch
        {
            SchedulerConfig.Epsilon => (sample - Math.Sqrt(betaProdT) * modelOutput) / Math.Sqrt(alphaProdT),
            SchedulerConfig.VPrediction => Math.Sqrt(alphaProdT) * sample - Math.Sqrt(betaProdT) * modelOutput,
            _ => modelOutput.alias(),
        };

        // 3. clip x̂_0
        if (Config.ClipSample) predX0 = predX0.clamp(-Config.ClipSampleRange, Config.ClipSampleRange);

        // 4. posterior mean μ̃_t(x_t, x̂_0) (Eq. 7)
        double x0Coeff = Math.Sqrt(alphaProdPrev) * currentBetaT / betaProdT;
        double xtCoeff = Math.Sqrt(currentAlphaT) * betaProdPrev / betaProdT;
        var prev = x0Coeff * predX0 + xtCoeff * sample;

        // 5–6. add √β̃_t · z (Eq. 7, fixed_small), except at the last step
        if (t > 0)
        {
            double variance = Math.Max(betaProdPrev / betaProdT * currentBetaT, 1e-20);
            // Drawn on the host (generation's generators are host generators): a seed gives the same images on any device.
            var z = randn(modelOutput.shape, dtype: modelOutput.dtype, device: CPU, generator: generator).to(modelOutput.device);
            prev = prev + Math.Sqrt(variance) * z;
        }
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predX0.MoveToOuterDisposeScope());
    }
}
