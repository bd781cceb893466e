namespace Deem.Benchmarks;

/// <summary>Mean, sample standard deviation and 95 % confidence interval of one metric over seeds.</summary>
/// <param name="N">Number of values (seeds).</param>
/// <param name="Mean">Arithmetic mean.</param>
/// <param name="Std">Sample standard deviation (divisor n − 1); NaN when n = 1.</param>
/// <param name="HalfWidth">t(0.975, n − 1) · Std / √n; NaN when n = 1.</param>
public sealed record SeedSummary(int N, double Mean, double Std, double HalfWidth)
{
    /// <summary>Lower end of the 95 % interval.</summary>
    public double Lower => Mean - HalfWidth;

    /// <summary>Upper end of the 95 % interval.</summary>
    public double Upper => Mean + HalfWidth;

    /// <summary>"56.86 ± 1.20" (the half-width is left out when there is one value).</summary>
    public string Format(int decimals = 2)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string mean = Mean.ToString("F" + decimals, inv);
        return double.IsNaN(HalfWidth) ? mean : mean + " ± " + HalfWidth.ToString("F" + decimals, inv);
    }
}

/// <summary>Difference of two means (A − B) with Welch's unequal-variance 95 % interval.</summary>
/// <param name="MeanA">Mean of the first group.</param>
/// <param name="MeanB">Mean of the second group.</param>
/// <param name="StdError">√(s²_A / n_A + s²_B / n_B).</param>
/// <param name="Df">Welch–Satterthwaite degrees of freedom (fractional); n_A + n_B − 2 when both variances are 0.</param>
/// <param name="HalfWidth">t(0.975, Df) · StdError.</param>
public sealed record MeanDifference(double MeanA, double MeanB, double StdError, double Df, double HalfWidth)
{
    /// <summary>MeanA − MeanB.</summary>
    public double Difference => MeanA - MeanB;

    /// <summary>Lower end of the 95 % interval of the difference.</summary>
    public double Lower => Difference - HalfWidth;

    /// <summary>Upper end of the 95 % interval of the difference.</summary>
    public double Upper => Difference + HalfWidth;

    /// <summary>Whether the 95 % interval excludes zero.</summary>
    public bool Significant => Lower > 0 || Upper < 0;
}

/// <summary>
/// Small-sample statistics for reporting benchmark scores over a few training seeds (the CSR ablation,
/// paper §4.3 / Table 3, repeated per seed): mean, sample standard deviation, Student-t 95 % intervals
/// (df = n − 1) and the Welch interval of a difference of two means. Critical values: the two-sided 95 %
/// Student t table for integer df ≤ 30, the exact quantile (incomplete-beta CDF, bisection) otherwise.
/// </summary>
public static class Stats
{
    // t(0.975, df) for df = 1 … 30.
    static readonly double[] T975 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    /// <summary>Arithmetic mean; throws on an empty list or a non-finite value.</summary>
    public static double Mean(IReadOnlyList<double> values)
    {
        Check(values, 1);
        double s = 0;
        foreach (double v in values) s += v;
        return s / values.Count;
    }

    /// <summary>Sample standard deviation (divisor n − 1); needs at least two values.</summary>
    public static double SampleStd(IReadOnlyList<double> values)
    {
        Check(values, 2);
        return Math.Sqrt(SampleVariance(values));
    }

    /// <summary>
    /// The two-sided 95 % critical value t(0.975, df) for df ≥ 1. Integer df ≤ 30 read the published
    /// 3-decimal table (so hand computations agree: t(0.975, 2) = 4.303); other df (fractional Welch df,
    /// df &gt; 30) solve P(T ≤ t) = 0.975 with <see cref="StudentCdf"/>.
    /// </summary>
    public static double TCritical95(double df)
    {
        if (double.IsNaN(df) || df < 1) throw new ArgumentOutOfRangeException(nameof(df), df, "degrees of freedom must be at least 1");
        if (double.IsPositiveInfinity(df)) return 1.959964;
        if (df <= 30 && df == Math.Floor(df)) return T975[(int)df - 1];
        double lo = 1.9, hi = 12.8; // t(0.975, 1) = 12.706 bounds every df ≥ 1
        for (int i = 0; i < 100 && hi - lo > 1e-10; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (StudentCdf(mid, df) < 0.975) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>P(T ≤ t) of Student's t with <paramref name="df"/> degrees of freedom:
    /// 1 − ½ I_{df/(df+t²)}(df/2, ½) for t ≥ 0 (regularised incomplete beta), symmetric for t &lt; 0.</summary>
    public static double StudentCdf(double t, double df)
    {
        if (double.IsNaN(df) || df <= 0) throw new ArgumentOutOfRangeException(nameof(df), df, "degrees of freedom must be positive");
        double tail = 0.5 * IncompleteBeta(df / 2, 0.5, df / (df + t * t));
        return t >= 0 ? 1 - tail : tail;
    }

    // Regularised incomplete beta I_x(a, b) by its continued fraction (modified Lentz), using the
    // symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
    static double IncompleteBeta(double a, double b, double x)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        double front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        if (x > (a + 1) / (a + b + 2)) return 1 - front * BetaFraction(b, a, 1 - x) / b;
        return front * BetaFraction(a, b, x) / a;
    }

    static double BetaFraction(double a, double b, double x)
    {
        const double Tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        d = 1 / (Math.Abs(d) < Tiny ? Tiny : d);
        double h = d;
        for (int m = 1; m <= 300; m++)
        {
            double aa = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + aa * d; d = 1 / (Math.Abs(d) < Tiny ? Tiny : d);
            c = 1 + aa / c; if (Math.Abs(c) < Tiny) c = Tiny;
            h *= d * c;
            aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
            d = 1 + aa * d; d = 1 / (Math.Abs(d) < Tiny ? Tiny : d);
            c = 1 + aa / c; if (Math.Abs(c) < Tiny) c = Tiny;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-15) break;
        }
        return h;
    }

    // ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error below 1e-13).
    static double LogGamma(double x)
    {
        ReadOnlySpan<double> g =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        x -= 1;
        double sum = g[0];
        for (int i = 1; i < 9; i++) sum += g[i] / (x + i);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    /// <summary>z = Φ⁻¹(0.975), the standard normal's two-sided 95 % point.</summary>
    public const double Z975 = 1.959963984540054;

    /// <summary>
    /// Wilson's score interval (Wilson, 1927; Newcombe, 1998, method 3), 95 %, of a proportion
    /// <paramref name="proportion"/> observed over <paramref name="n"/> independent trials: the sampling error of one
    /// run's benchmark accuracy over its questions, where <see cref="Summarize"/> is the spread over seeds.
    /// With p̂ the proportion and z = <see cref="Z975"/>: (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n).
    /// Unlike p̂ ± z·√(p̂(1 − p̂)/n) it stays in [0, 1] and does not shrink to a point at p̂ = 0 or 1. Questions that share
    /// an image (POPE asks six about each) are not independent, so for them it is a lower bound on the sampling error.
    /// </summary>
    public static (double Lower, double Upper) Wilson(double proportion, int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "needs at least one trial");
        if (!(proportion >= 0 && proportion <= 1)) throw new ArgumentOutOfRangeException(nameof(proportion), proportion, "must lie in [0, 1]");
        double z2 = Z975 * Z975;
        double denominator = 1 + z2 / n;
        double centre = (proportion + z2 / (2.0 * n)) / denominator;
        double half = Z975 * Math.Sqrt(proportion * (1 - proportion) / n + z2 / (4.0 * n * n)) / denominator;
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary><see cref="Wilson"/> in percent, the unit the scores files and tables use.</summary>
    public static (double Lower, double Upper) WilsonPercent(double proportion, int n)
    {
        var (lower, upper) = Wilson(proportion, n);
        return (100 * lower, 100 * upper);
    }

    /// <summary>Mean, sample std and the Student-t 95 % interval (df = n − 1) of the values.</summary>
    public static SeedSummary Summarize(IReadOnlyList<double> values)
    {
        double mean = Mean(values);
        int n = values.Count;
        if (n == 1) return new SeedSummary(1, mean, double.NaN, double.NaN);
        double std = Math.Sqrt(SampleVariance(values));
        return new SeedSummary(n, mean, std, TCritical95(n - 1) * std / Math.Sqrt(n));
    }

    /// <summary>
    /// The difference of the means of <paramref name="a"/> and <paramref name="b"/> (A − B) with Welch's
    /// 95 % interval: SE = √(s²_A/n_A + s²_B/n_B), df = SE⁴ / ((s²_A/n_A)²/(n_A−1) + (s²_B/n_B)²/(n_B−1)).
    /// Each group needs at least two values.
    /// </summary>
    public static MeanDifference WelchDifference(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        Check(a, 2);
        Check(b, 2);
        double va = SampleVariance(a) / a.Count, vb = SampleVariance(b) / b.Count;
        double se2 = va + vb;
        double ma = Mean(a), mb = Mean(b);
        if (se2 == 0) return new MeanDifference(ma, mb, 0, a.Count + b.Count - 2, 0);
        double df = se2 * se2 / (va * va / (a.Count - 1) + vb * vb / (b.Count - 1));
        double se = Math.Sqrt(se2);
        return new MeanDifference(ma, mb, se, df, TCritical95(df) * se);
    }

    static double SampleVariance(IReadOnlyList<double> values)
    {
        double m = 0;
        foreach (double v in values) m += v;
        m /= values.Count;
        double ss = 0;
        foreach (double v in values) ss += (v - m) * (v - m);
        return ss / (values.Count - 1);
    }

    static void Check(IReadOnlyList<double> values, int min)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count < min) throw new ArgumentException($"need at least {min} value(s), found {values.Count}", nameof(values));
        foreach (double v in values)
            if (!double.IsFinite(v)) throw new ArgumentException($"values must be finite, found {v}", nameof(values));
    }
}
