using Deem.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diffusion.Schedulers;

/// <summary>
/// The pieces of a discrete noise schedule shared by <see cref="DdpmScheduler"/> and
/// <see cref="DdimScheduler"/>, computed as diffusers computes them (float32):
/// β_t for "linear" (Ho et al. 2020 §4), "scaled_linear" (Stable Diffusion: (linspace(√β_0, √β_T))²)
/// and "squaredcos_cap_v2" (Nichol &amp; Dhariwal 2021, Eq. 17 with β ≤ 0.999); ᾱ_t = Π_{s≤t}(1 − β_s);
/// and the inference timestep sequences of the "leading", "linspace" and "trailing" spacings.
/// </summary>
public static class NoiseSchedule
{
    /// <summary>[T] float32 β_0 … β_{T−1}.</summary>
    public static Tensor Betas(SchedulerConfig c)
    {
        int T = c.NumTrainTimesteps;
        switch (c.BetaSchedule)
        {
            case SchedulerConfig.Linear:
                return linspace(c.BetaStart, c.BetaEnd, T, dtype: ScalarType.Float32, device: CPU);
            case SchedulerConfig.ScaledLinear:
                return linspace(Math.Sqrt(c.BetaStart), Math.Sqrt(c.BetaEnd), T, dtype: ScalarType.Float32, device: CPU).pow(2);
            case SchedulerConfig.SquaredCosCapV2:
                {
                    static double AlphaBar(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);
                    var b = new float[T];
                    for (int i = 0; i < T; i++)
                        b[i] = (float)Math.Min(1 - AlphaBar((i + 1.0) / T) / AlphaBar((double)i / T), 0.999);
                    return tensor(b, device: CPU);
                }
            default:
                throw new DeemConfigException("SchedulerConfig", "beta_schedule", $"unknown schedule '{c.BetaSchedule}'");
        }
    }

    /// <summary>[T] float32 ᾱ_t = cumprod(1 − β).</summary>
    public static Tensor AlphasCumprod(Tensor betas)
    {
        using var scope = NewDisposeScope();
        return (1.0f - betas).cumprod(0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Inference timesteps, descending (diffusers <c>set_timesteps</c>):
    /// leading: k·⌊T/n⌋ + steps_offset for k = n−1 … 0; linspace: round(linspace(0, T−1, n)) reversed;
    /// trailing: round(T − k·T/n) − 1 for k = 0 … n−1.
    /// </summary>
    public static long[] InferenceTimesteps(SchedulerConfig c, int numInferenceSteps)
    {
        int T = c.NumTrainTimesteps;
        int n = numInferenceSteps;
        if (n < 1 || n > T)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), $"need 1 ≤ steps ≤ num_train_timesteps ({T}), found {n}");
        var ts = new long[n];
        switch (c.TimestepSpacing)
        {
            case "leading":
                {
                    long ratio = T / n;
                    for (int k = 0; k < n; k++) ts[n - 1 - k] = k * ratio + c.StepsOffset;
                    break;
                }
            case "linspace":
                for (int k = 0; k < n; k++)
                {
                    double v = n == 1 ? 0 : (T - 1) * (double)k / (n - 1);
                    ts[n - 1 - k] = (long)Math.Round(v, MidpointRounding.ToEven);
                }
                break;
            case "trailing":
                {
                    double ratio = (double)T / n;
                    for (int k = 0; k < n; k++) ts[k] = (long)Math.Round(T - k * ratio, MidpointRounding.ToEven) - 1;
                    break;
                }
            default:
                throw new DeemConfigException("SchedulerConfig", "timestep_spacing", $"unknown spacing '{c.TimestepSpacing}'");
        }
        return ts;
    }

    /// <summary>ᾱ at each timestep of <paramref name="t"/>, shaped to broadcast over <paramref name="like"/> ([B, 1, 1, …]).</summary>
    internal static Tensor Gather(Tensor alphasCumprod, Tensor t, Tensor like)
    {
        using var scope = NewDisposeScope();
        var idx = t.to(ScalarType.Int64, CPU).reshape(-1);                    // [B]
        var a = alphasCumprod.index_select(0, idx).to(like.dtype, like.device); // [B]
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = idx.shape[0];
        return a.reshape(shape).MoveToOuterDisposeScope();                  // [B, 1, 1, 1]
    }
}

/// <summary>Result of one reverse step: x_{t−1} and the model's estimate of x_0.</summary>
public sealed record SchedulerStepOutput(Tensor PrevSample, Tensor PredOriginalSample);

/// <summary>
/// DEEM's timestep squeeze for the CSR loss (reference §2.3): t' = round((t − 500)·0.6 + 500), mapping
/// t ∈ {0 … 999} into [200, 799] so the image-encoder condition is judged at mid noise levels only.
/// </summary>
public static class CsrTimesteps
{
    /// <summary>t' for one timestep.</summary>
    public static long Squeeze(long t) => (long)Math.Round((t - 500) * 0.6 + 500, MidpointRounding.ToEven);

    /// <summary>t' element-wise, int64.</summary>
    public static Tensor Squeeze(Tensor t)
    {
        using var scope = NewDisposeScope();
        var s = ((t.to(ScalarType.Float64) - 500.0) * 0.6 + 500.0).round().to(ScalarType.Int64);
        return s.MoveToOuterDisposeScope();
    }
}
