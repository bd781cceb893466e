using Deem.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diffusion.Schedulers;

/// <summary>
/// Denoising diffusion implicit model scheduler (Song et al. 2021, "DDIM"), as diffusers'
/// <c>DDIMScheduler</c> without thresholding: a faster, deterministic (η = 0) sampler over the same
/// ᾱ schedule the SD UNet was trained with.
/// <para>Notation (code → paper; DDIM writes α_t for what DDPM calls ᾱ_t):</para>
/// <list type="table">
/// <item><term>AlphasCumprod[t]</term><description>α_t (DDIM) = ᾱ_t (DDPM)</description></item>
/// <item><term>alpha_prod_prev</term><description>α_{t−1}: ᾱ at prev_t = t − ⌊T/n⌋, or the final ᾱ (1 with set_alpha_to_one, else ᾱ_0)</description></item>
/// <item><term>sigma_t (std_dev_t)</term><description>σ_t(η) of Eq. 16</description></item>
/// <item><term>pred_x0</term><description>"predicted x_0"</description></item>
/// <item><term>pred_epsilon</term><description>ε_θ^{(t)}(x_t)</description></item>
/// <item><term>direction</term><description>"direction pointing to x_t"</description></item>
/// </list>
/// </summary>
public sealed class DdimScheduler
{
    /// <summary>The schedule's configuration.</summary>
    public SchedulerConfig Config { get; }

    /// <summary>[T] float32 ᾱ_t.</summary>
    public Tensor AlphasCumprod { get; }

    /// <summary>ᾱ used for the step after the last timestep: 1 when set_alpha_to_one, else ᾱ_0 (SD).</summary>
    public double FinalAlphaCumprod { get; }

    /// <summary>The current inference timesteps, descending.</summary>
    public long[] Timesteps { get; private set; }

    /// <summary>Number of inference steps, or null before <see cref="SetTimesteps"/>.</summary>
    public int? NumInferenceSteps { get; private set; }

    /// <summary>Standard deviation of the initial noise x_T (1 for DDIM).</summary>
    public double InitNoiseSigma => 1.0;

    readonly float[] _alphasCumprod;

    public DdimScheduler(SchedulerConfig config)
    {
        Config = config.Validate("SchedulerConfig");
        using var betas = NoiseSchedule.Betas(config);
        AlphasCumprod = NoiseSchedule.AlphasCumprod(betas).DetachFromDisposeScope();
        _alphasCumprod = AlphasCumprod.data<float>().ToArray();
        FinalAlphaCumprod = config.SetAlphaToOne ? 1.0 : _alphasCumprod[0];
        Timesteps = Enumerable.Range(0, config.NumTrainTimesteps).Reverse().Select(i => (long)i).ToArray();
    }

    /// <summary>Chooses the n inference timesteps (spacing and steps_offset from the config).</summary>
    public void SetTimesteps(int numInferenceSteps)
    {
        Timesteps = NoiseSchedule.InferenceTimesteps(Config, numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
    }

    /// <summary>x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε (the same forward process as DDPM).</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor t)
    {
        using var scope = NewDisposeScope();
        var a = NoiseSchedule.Gather(AlphasCumprod, t, x0); // [B, 1, 1, 1]
        return (a.sqrt() * x0 + (1 - a).sqrt() * noise).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One DDIM step x_t → x_{prev_t} (DDIM Eq. 12):
    /// x_{t−1} = √α_{t−1} · x̂_0 + √(1 − α_{t−1} − σ_t²) · ε̂ + σ_t · z.
    /// <list type="number">
    /// <item>prev_t = t − ⌊T/n⌋.</item>
    /// <item>α_t = ᾱ_t, α_{t−1} = ᾱ_{prev_t} (or the final ᾱ when prev_t &lt; 0), β_t = 1 − α_t.</item>
    /// <item>"predicted x_0" and ε̂ (Eq. 12 first term): ε: x̂_0 = (x_t − √β_t · ε̂)/√α_t;
    ///   v: x̂_0 = √α_t · x_t − √β_t · v̂, ε̂ = √α_t · v̂ + √β_t · x_t; sample: ε̂ = (x_t − √α_t · x̂_0)/√β_t.</item>
    /// <item>Optionally clip x̂_0 to [−r, r].</item>
    /// <item>σ_t(η) = η · √((1 − α_{t−1})/(1 − α_t)) · √(1 − α_t/α_{t−1}) (Eq. 16).</item>
    /// <item>"direction pointing to x_t" = √(1 − α_{t−1} − σ_t²) · ε̂.</item>
    /// <item>x_{t−1} = √α_{t−1} · x̂_0 + direction, plus σ_t · z when η &gt; 0.</item>
    /// </list>
    /// </summary>
    /// <param name="modelOutput">[B, C, H, W] ε̂, v̂ or x̂_0, as prediction_type says.</param>
    /// <param name="t">The current timestep (one of <see cref="Timesteps"/>).</param>
    /// <param name="sample">[B, C, H, W] x_t.</param>
    /// <param name="generator">Source of z when η &gt; 0.</param>
    /// <param name="eta">η: 0 gives the deterministic DDIM sampler, 1 a DDPM-like one.</param>
    public SchedulerStepOutput Step(Tensor modelOutput, long t, Tensor sample, double eta = 0.0, Generator? generator = null)
    {
        if (NumInferenceSteps is not int n)
            throw new InvalidOperationException("DdimScheduler.Step: call SetTimesteps first");
        if (t < 0 || t >= Config.NumTrainTimesteps)
            throw new ArgumentOutOfRangeException(nameof(t), $"timestep must be in [0, {Config.NumTrainTimesteps}), found {t}");
        using var scope = NewDisposeScope();
        // 1. previous step
        long prevT = t - Config.NumTrainTimesteps / n;

        // 2. alphas and betas
        double alphaProdT = _alphasCumprod[t];
        double alphaProdPrev = prevT >= 0 ? _alphasCumprod[prevT] : FinalAlphaCumprod;
        double betaProdT = 1 - alphaProdT;

        // 3. predicted x_0 and ε̂
        Tensor predX0, predEps;
        switch (Config.PredictionType)
        {
            case SchedulerConfig.Epsilon:
                predX0 = (sample - Math.Sqrt(betaProdT) * modelOutput) / Math.Sqrt(alphaProdT);
                predEps = modelOutput.alias();
                break;
            case SchedulerConfig.VPrediction:
                predX0 = Math.Sqrt(alphaProdT) * sample - Math.Sqrt(betaProdT) * modelOutput;
                predEps = Math.Sqrt(alphaProdT) * modelOutput + Math.Sqrt(betaProdT) * sample;
                break;
            default:
                predX0 = modelOutput.alias();
                predEps = (sample - Math.Sqrt(alphaProdT) * predX0) / Math.Sqrt(betaProdT);
                break;
        }

        // 4. clip x̂_0
        if (Config.ClipSample) predX0 = predX0.clamp(-Config.ClipSampleRange, Config.ClipSampleRange);

        // 5. σ_t(η) (Eq. 16)
        double variance = (1 - alphaProdPrev) / betaProdT * (1 - alphaProdT / alphaProdPrev);
        double std = eta * Math.Sqrt(Math.Max(variance, 0));

        // 6. direction pointing to x_t
        var direction = Math.Sqrt(Math.Max(1 - alphaProdPrev - std * std, 0)) * predEps;

        // 7. x_{t−1} (Eq. 12)
        var prev = Math.Sqrt(alphaProdPrev) * predX0 + direction;
        if (eta > 0)
            prev = prev + std * randn(modelOutput.shape, dtype: modelOutput.dtype, device: modelOutput.device, generator: generator);
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predX0.MoveToOuterDisposeScope());
    }
}
