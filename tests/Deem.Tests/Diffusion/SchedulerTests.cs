using Deem.Config;
using Deem.Diffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Diffusion;

/// <summary>DDPM/DDIM against values derived by hand from the papers' formulas.</summary>
public class SchedulerTests
{
    // A 5-step linear schedule: β = 0.1, 0.2, 0.3, 0.4, 0.5, so
    // ᾱ = 0.9, 0.9·0.8 = 0.72, 0.72·0.7 = 0.504, 0.504·0.6 = 0.3024, 0.3024·0.5 = 0.1512.
    static readonly SchedulerConfig Five = new()
    {
        NumTrainTimesteps = 5, BetaStart = 0.1, BetaEnd = 0.5, BetaSchedule = SchedulerConfig.Linear, ClipSample = false,
    };
    static readonly double[] FiveAlphaBar = [0.9, 0.72, 0.504, 0.3024, 0.1512];

    static float[] F(Tensor t) => t.contiguous().data<float>().ToArray();

    static void Close(double expected, double actual, double tol = 1e-5) =>
        Assert.True(Math.Abs(expected - actual) <= tol * Math.Max(1, Math.Abs(expected)), $"expected {expected}, found {actual}");

    [Fact]
    public void LinearScheduleAlphasCumprodMatchesHandProducts()
    {
        var s = new DdpmScheduler(Five);
        var b = F(s.Betas);
        var a = F(s.AlphasCumprod);
        for (int i = 0; i < 5; i++)
        {
            Close(0.1 * (i + 1), b[i]);
            Close(FiveAlphaBar[i], a[i]);
        }
    }

    [Fact]
    public void ScaledLinearAndCosineBetasFollowTheirFormulas()
    {
        var sd = new DdpmScheduler(SchedulerConfig.Sd21Base);
        var b = F(sd.Betas);
        double r0 = Math.Sqrt(0.00085), r1 = Math.Sqrt(0.012);
        foreach (int i in new[] { 0, 1, 500, 998, 999 })
            Close(Math.Pow(r0 + (r1 - r0) * i / 999.0, 2), b[i], 1e-5);

        var cos = new DdpmScheduler(SchedulerConfig.Sd21Base with { BetaSchedule = SchedulerConfig.SquaredCosCapV2 });
        var bc = F(cos.Betas);
        static double Ab(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);
        foreach (int i in new[] { 0, 10, 500, 990 })
            Close(Math.Min(1 - Ab((i + 1) / 1000.0) / Ab(i / 1000.0), 0.999), bc[i], 1e-5);
        Close(0.999, bc[999], 1e-6); // ᾱ(1) = 0 is capped
    }

    [Fact]
    public void AddNoiseAndVelocityUsePerSampleAlphaBar()
    {
        var s = new DdpmScheduler(Five);
        var x0 = tensor(new float[] { 1f, 2f }).reshape(2, 1, 1, 1);
        var eps = tensor(new float[] { 3f, -1f }).reshape(2, 1, 1, 1);
        var t = tensor(new long[] { 1, 3 });
        var xt = F(s.AddNoise(x0, eps, t));
        Close(Math.Sqrt(0.72) * 1 + Math.Sqrt(0.28) * 3, xt[0]);
        Close(Math.Sqrt(0.3024) * 2 + Math.Sqrt(1 - 0.3024) * -1, xt[1]);
        var v = F(s.GetVelocity(x0, eps, t));
        Close(Math.Sqrt(0.72) * 3 - Math.Sqrt(0.28) * 1, v[0]);
        Close(Math.Sqrt(0.3024) * -1 - Math.Sqrt(1 - 0.3024) * 2, v[1]);
    }

    [Fact]
    public void DdpmEpsilonStepIsThePosteriorMeanPlusFixedSmallNoise()
    {
        var s = new DdpmScheduler(Five);
        var x = tensor(new float[] { 0.5f, -1.5f, 2f });
        var e = tensor(new float[] { 0.3f, 0.1f, -0.7f });
        var gen = new Generator(123);
        var o = s.Step(e, 2, x, gen);
        var z = F(randn(new long[] { 3 }, generator: new Generator(123)));
        // t = 2, prev_t = 1: ᾱ_t = 0.504, ᾱ_prev = 0.72, α_t = 0.7, β_t = 0.3, β̄_t = 0.496.
        double ab = 0.504, abPrev = 0.72, beta = 0.3;
        double var = (1 - abPrev) / (1 - ab) * beta;
        var xs = F(x); var es = F(e);
        var prev = F(o.PrevSample); var px0 = F(o.PredOriginalSample);
        for (int i = 0; i < 3; i++)
        {
            double x0 = (xs[i] - Math.Sqrt(1 - ab) * es[i]) / Math.Sqrt(ab);      // DDPM Eq. 15
            double mean = Math.Sqrt(abPrev) * beta / (1 - ab) * x0 + Math.Sqrt(0.7) * (1 - abPrev) / (1 - ab) * xs[i]; // Eq. 7
            Close(x0, px0[i]);
            Close(mean + Math.Sqrt(var) * z[i], prev[i]);
        }
        // At t = 0 there is no noise and ᾱ_prev = 1, so x_prev = x̂_0 exactly.
        var last = s.Step(e, 0, x, new Generator(5));
        var lx = F(last.PrevSample);
        for (int i = 0; i < 3; i++) Close((xs[i] - Math.Sqrt(0.1) * es[i]) / Math.Sqrt(0.9), lx[i]);
    }

    [Fact]
    public void DdpmVPredictionStepRecoversX0FromTheTrueVelocity()
    {
        var s = new DdpmScheduler(Five with { PredictionType = SchedulerConfig.VPrediction });
        var x0 = tensor(new float[] { 0.25f, -0.5f, 1f, 0f }).reshape(1, 4, 1, 1);
        var eps = tensor(new float[] { 1f, 0.5f, -2f, 0.1f }).reshape(1, 4, 1, 1);
        var t = tensor(new long[] { 3 });
        var xt = s.AddNoise(x0, eps, t);
        var v = s.GetVelocity(x0, eps, t);
        var o = s.Step(v, 3, xt, new Generator(0));
        // v-parameterisation: x̂_0 = √ᾱ x_t − √(1−ᾱ) v = x_0 exactly when v is the true velocity.
        Assert.True(allclose(o.PredOriginalSample, x0, rtol: 1e-5, atol: 1e-5));
        // And by hand from the formula with ᾱ_3 = 0.3024.
        var xs = F(xt); var vs = F(v); var p = F(o.PredOriginalSample);
        for (int i = 0; i < 4; i++) Close(Math.Sqrt(0.3024) * xs[i] - Math.Sqrt(0.6976) * vs[i], p[i]);
    }

    [Fact]
    public void TheTrainingTargetIsEpsilonOrTheVelocityAsConfiguredAndSampleIsRefused()
    {
        var x0 = tensor(new float[] { 0.25f, -0.5f, 1f, 0f }).reshape(1, 4, 1, 1);
        var eps = tensor(new float[] { 1f, 0.5f, -2f, 0.1f }).reshape(1, 4, 1, 1);
        var t = tensor(new long[] { 3 });
        Assert.Equal(F(eps), F(new DdpmScheduler(Five).TrainingTarget(x0, eps, t)));
        var v = new DdpmScheduler(Five with { PredictionType = SchedulerConfig.VPrediction });
        var vs = F(v.TrainingTarget(x0, eps, t));
        var (xs, es) = (F(x0), F(eps));
        for (int i = 0; i < 4; i++) Close(Math.Sqrt(0.3024) * es[i] - Math.Sqrt(0.6976) * xs[i], vs[i]);   // v = √ᾱ ε − √(1−ᾱ) x₀, ᾱ_3 = 0.3024
        var e = Assert.Throws<DeemConfigException>(() => new DdpmScheduler(Five with { PredictionType = SchedulerConfig.Sample }).TrainingTarget(x0, eps, t));
        Assert.Contains("prediction_type", e.Message);
    }

    [Fact]
    public void SetTimestepsMatchesDiffusersForTheSdConfig()
    {
        var s = new DdpmScheduler(SchedulerConfig.Sd21Base);
        s.SetTimesteps(50);
        Assert.Equal(Enumerable.Range(0, 50).Select(k => 981L - 20 * k).ToArray(), s.Timesteps); // 981, 961, …, 1
        var d = new DdimScheduler(SchedulerConfig.Sd21Base);
        d.SetTimesteps(5);
        Assert.Equal(new long[] { 801, 601, 401, 201, 1 }, d.Timesteps); // diffusers test_scheduler_ddim test_steps_offset
        s.SetTimesteps(250); // DEEM's inference setting: ratio 4
        Assert.Equal(997L, s.Timesteps[0]);
        Assert.Equal(1L, s.Timesteps[^1]);
        Assert.Equal(993L, s.PreviousTimestep(997));

        var lin = new DdpmScheduler(SchedulerConfig.Sd21Base with { TimestepSpacing = "linspace" });
        lin.SetTimesteps(10); // round(linspace(0, 999, 10)) reversed
        Assert.Equal(new long[] { 999, 888, 777, 666, 555, 444, 333, 222, 111, 0 }, lin.Timesteps);
        var tr = new DdpmScheduler(SchedulerConfig.Sd21Base with { TimestepSpacing = "trailing" });
        tr.SetTimesteps(10); // round(1000 − 100k) − 1
        Assert.Equal(new long[] { 999, 899, 799, 699, 599, 499, 399, 299, 199, 99 }, tr.Timesteps);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.SetTimesteps(1001));
    }

    [Fact]
    public void DdimFirstAndLastStepsFollowEquation12()
    {
        var d = new DdimScheduler(SchedulerConfig.Sd21Base);
        d.SetTimesteps(50);
        // ᾱ by hand in double from the scaled-linear betas.
        double r0 = Math.Sqrt(0.00085), r1 = Math.Sqrt(0.012);
        var ab = new double[1000];
        double p = 1;
        for (int i = 0; i < 1000; i++) { p *= 1 - Math.Pow(r0 + (r1 - r0) * i / 999.0, 2); ab[i] = p; }

        var x = tensor(new float[] { 0.9f, -0.4f, 1.7f });
        var e = tensor(new float[] { 0.2f, -1.1f, 0.6f });
        var xs = F(x); var es = F(e);
        var first = F(d.Step(e, 981, x).PrevSample);  // prev_t = 961, η = 0
        var last = F(d.Step(e, 1, x).PrevSample);     // prev_t = −19 → ᾱ_0 (set_alpha_to_one = false)
        for (int i = 0; i < 3; i++)
        {
            double x0 = (xs[i] - Math.Sqrt(1 - ab[981]) * es[i]) / Math.Sqrt(ab[981]);
            Close(Math.Sqrt(ab[961]) * x0 + Math.Sqrt(1 - ab[961]) * es[i], first[i], 1e-4);
            double x0b = (xs[i] - Math.Sqrt(1 - ab[1]) * es[i]) / Math.Sqrt(ab[1]);
            Close(Math.Sqrt(ab[0]) * x0b + Math.Sqrt(1 - ab[0]) * es[i], last[i], 1e-4);
        }
        Close(ab[0], d.FinalAlphaCumprod, 1e-6);
        Assert.Throws<InvalidOperationException>(() => new DdimScheduler(SchedulerConfig.Sd21Base).Step(e, 981, x));
    }

    [Fact]
    public void DdimWithEtaOneAddsTheDdpmPosteriorNoise()
    {
        var d = new DdimScheduler(Five with { SetAlphaToOne = true });
        d.SetTimesteps(5);
        var x = tensor(new float[] { 0.5f, -1f });
        var e = tensor(new float[] { 0.25f, 0.75f });
        var o = F(d.Step(e, 2, x, eta: 1.0, generator: new Generator(9)).PrevSample);
        var z = F(randn(new long[] { 2 }, generator: new Generator(9)));
        double ab = 0.504, abPrev = 0.72;
        double var = (1 - abPrev) / (1 - ab) * (1 - ab / abPrev);   // σ_t² of Eq. 16 with η = 1
        var xs = F(x); var es = F(e);
        for (int i = 0; i < 2; i++)
        {
            double x0 = (xs[i] - Math.Sqrt(1 - ab) * es[i]) / Math.Sqrt(ab);
            Close(Math.Sqrt(abPrev) * x0 + Math.Sqrt(1 - abPrev - var) * es[i] + Math.Sqrt(var) * z[i], o[i]);
        }
    }

    [Fact]
    public void DdpmFullLoopIsDeterministicForASeed()
    {
        static Tensor Run(int seed)
        {
            var s = new DdpmScheduler(SchedulerConfig.Sd21Base);
            s.SetTimesteps(10);
            var gen = new Generator((ulong)seed);
            var x = randn(new long[] { 1, 4, 4, 4 }, generator: gen);
            foreach (var t in s.Timesteps)
            {
                var eps = 0.1 * x; // a fixed stand-in for the UNet: ε̂ proportional to x_t
                x = s.Step(eps, t, x, gen).PrevSample;
            }
            return x;
        }
        var a = Run(42);
        var b = Run(42);
        var c = Run(43);
        Assert.True(a.eq(b).all().item<bool>());
        Assert.False(allclose(a, c));
        Assert.True(a.isfinite().all().item<bool>());
    }

    [Fact]
    public void CsrSqueezeMapsTimestepsIntoTwoHundredToSevenNinetyNine()
    {
        Assert.Equal(200L, CsrTimesteps.Squeeze(0));
        Assert.Equal(201L, CsrTimesteps.Squeeze(1));    // 200.6
        Assert.Equal(500L, CsrTimesteps.Squeeze(500));
        Assert.Equal(799L, CsrTimesteps.Squeeze(999));  // 799.4
        var all = arange(0, 1000, dtype: ScalarType.Int64);
        var sq = CsrTimesteps.Squeeze(all);
        Assert.Equal(ScalarType.Int64, sq.dtype);
        var vals = sq.data<long>().ToArray();
        for (int t = 0; t < 1000; t++) Assert.Equal(CsrTimesteps.Squeeze(t), vals[t]);
        Assert.Equal(200L, vals.Min());
        Assert.Equal(799L, vals.Max());
    }

    [Fact]
    public void PublishedSchedulerConfigParsesToTheSdPreset()
    {
        // stabilityai/stable-diffusion-2-1-base scheduler/scheduler_config.json (PNDM class; DDPM reads the same keys).
        const string json = """
        {
          "_class_name": "PNDMScheduler",
          "_diffusers_version": "0.10.0.dev0",
          "beta_end": 0.012,
          "beta_schedule": "scaled_linear",
          "beta_start": 0.00085,
          "clip_sample": false,
          "num_train_timesteps": 1000,
          "prediction_type": "epsilon",
          "set_alpha_to_one": false,
          "skip_prk_steps": true,
          "steps_offset": 1,
          "trained_betas": null
        }
        """;
        var c = ConfigJson.Parse<SchedulerConfig>(json, "scheduler_config.json").Validate("scheduler_config.json");
        Assert.Equal(SchedulerConfig.Sd21Base, c);
        var bad = Assert.Throws<DeemConfigException>(() => (c with { BetaSchedule = "sigmoid" }).Validate("x"));
        Assert.Equal("beta_schedule", bad.Field);
        Assert.Throws<DeemConfigException>(() => (c with { Thresholding = true }).Validate("x"));
    }
}
