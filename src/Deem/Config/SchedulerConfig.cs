using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// Noise-schedule configuration shared by the DDPM and DDIM schedulers, read from a published
/// <c>scheduler/scheduler_config.json</c>. Property defaults are those of diffusers' <c>DDPMScheduler</c>
/// constructor, so a config file that omits a key behaves as <c>DDPMScheduler.from_pretrained</c> does
/// (reference §1.9: SD-2.1-base ships scaled_linear 0.00085→0.012, ε-prediction, steps_offset 1).
/// </summary>
public sealed record SchedulerConfig
{
    public const string Linear = "linear";
    public const string ScaledLinear = "scaled_linear";
    public const string SquaredCosCapV2 = "squaredcos_cap_v2";
    public const string Epsilon = "epsilon";
    public const string VPrediction = "v_prediction";
    public const string Sample = "sample";

    [JsonPropertyName("num_train_timesteps")] public int NumTrainTimesteps { get; init; } = 1000;
    [JsonPropertyName("beta_start")] public double BetaStart { get; init; } = 0.0001;
    [JsonPropertyName("beta_end")] public double BetaEnd { get; init; } = 0.02;

    /// <summary>"linear", "scaled_linear" or "squaredcos_cap_v2".</summary>
    [JsonPropertyName("beta_schedule")] public string BetaSchedule { get; init; } = Linear;

    /// <summary>"epsilon", "v_prediction" or "sample": what the UNet predicts.</summary>
    [JsonPropertyName("prediction_type")] public string PredictionType { get; init; } = Epsilon;

    /// <summary>Added to every inference timestep of "leading" spacing (SD: 1, so 50 steps give 981 … 1).</summary>
    [JsonPropertyName("steps_offset")] public int StepsOffset { get; init; }

    [JsonPropertyName("clip_sample")] public bool ClipSample { get; init; } = true;
    [JsonPropertyName("clip_sample_range")] public double ClipSampleRange { get; init; } = 1.0;

    /// <summary>DDIM only: ᾱ of the step before t = 0 is 1 (true) or ᾱ_0 (false, SD).</summary>
    [JsonPropertyName("set_alpha_to_one")] public bool SetAlphaToOne { get; init; } = true;

    /// <summary>"leading", "linspace" or "trailing".</summary>
    [JsonPropertyName("timestep_spacing")] public string TimestepSpacing { get; init; } = "leading";

    /// <summary>DDPM posterior variance; only "fixed_small" (β̃_t of DDPM Eq. 7) is supported.</summary>
    [JsonPropertyName("variance_type")] public string VarianceType { get; init; } = "fixed_small";

    [JsonPropertyName("thresholding")] public bool Thresholding { get; init; }
    [JsonPropertyName("rescale_betas_zero_snr")] public bool RescaleBetasZeroSnr { get; init; }

    /// <summary><c>stabilityai/stable-diffusion-2-1-base</c> <c>scheduler/scheduler_config.json</c>.</summary>
    public static SchedulerConfig Sd21Base => new()
    {
        NumTrainTimesteps = 1000,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = ScaledLinear,
        PredictionType = Epsilon,
        StepsOffset = 1,
        ClipSample = false,
        SetAlphaToOne = false,
        TimestepSpacing = "leading",
    };

    /// <summary>The same schedule as <see cref="Sd21Base"/>: the tiny UNet is trained with SD's noise levels.</summary>
    public static SchedulerConfig Tiny => Sd21Base;

    /// <summary>Throws <see cref="DeemConfigException"/> for values the schedulers do not implement.</summary>
    public SchedulerConfig Validate(string source)
    {
        if (NumTrainTimesteps < 1)
            throw new DeemConfigException(source, "num_train_timesteps", $"must be ≥ 1, found {NumTrainTimesteps}");
        if (BetaSchedule is not (Linear or ScaledLinear or SquaredCosCapV2))
            throw new DeemConfigException(source, "beta_schedule", $"expected linear, scaled_linear or squaredcos_cap_v2, found '{BetaSchedule}'");
        if (BetaSchedule != SquaredCosCapV2 && !(BetaStart > 0 && BetaEnd >= BetaStart && BetaEnd < 1))
            throw new DeemConfigException(source, "beta_start", $"need 0 < beta_start ≤ beta_end < 1, found {BetaStart}, {BetaEnd}");
        if (PredictionType is not (Epsilon or VPrediction or Sample))
            throw new DeemConfigException(source, "prediction_type", $"expected epsilon, v_prediction or sample, found '{PredictionType}'");
        if (TimestepSpacing is not ("leading" or "linspace" or "trailing"))
            throw new DeemConfigException(source, "timestep_spacing", $"expected leading, linspace or trailing, found '{TimestepSpacing}'");
        if (VarianceType != "fixed_small")
            throw new DeemConfigException(source, "variance_type", $"only fixed_small is supported, found '{VarianceType}'");
        if (Thresholding) throw new DeemConfigException(source, "thresholding", "dynamic thresholding is not supported");
        if (RescaleBetasZeroSnr) throw new DeemConfigException(source, "rescale_betas_zero_snr", "not supported");
        if (StepsOffset < 0) throw new DeemConfigException(source, "steps_offset", $"must be ≥ 0, found {StepsOffset}");
        if (!(ClipSampleRange > 0)) throw new DeemConfigException(source, "clip_sample_range", $"must be > 0, found {ClipSampleRange}");
        return this;
    }
}
