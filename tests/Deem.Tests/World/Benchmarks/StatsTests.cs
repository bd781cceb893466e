using Deem.Benchmarks;

namespace Deem.Tests.World.Benchmarks;

public class StatsTests
{
    /// <summary>Newcombe (1998), Statistics in Medicine 17:857–872, Table II, method 3 (score interval without continuity
    /// correction): 81/263, 15/148, 0/20 and 1/29, to the table's four decimals.</summary>
    [Theory]
    [InlineData(81, 263, 0.2553, 0.3662)]
    [InlineData(15, 148, 0.0624, 0.1605)]
    [InlineData(0, 20, 0.0, 0.1611)]
    [InlineData(1, 29, 0.0061, 0.1718)]
    public void WilsonIntervalsAreNewcombesPublishedOnes(int k, int n, double lower, double upper)
    {
        var (lo, hi) = Stats.Wilson((double)k / n, n);
        Assert.Equal((lower, upper), (Math.Round(lo, 4), Math.Round(hi, 4)));
    }

    [Fact]
    public void WilsonIntervalsNarrowWithTheQuestionsAndRefuseNonsense()
    {
        // one POPE split of 30 images (180 questions) against 500 (3000), both near 88 % right
        var (lo30, hi30) = Stats.Wilson(158.0 / 180, 180);
        var (lo500, hi500) = Stats.Wilson(2640.0 / 3000, 3000);
        Assert.True(hi30 - lo30 > 4 * (hi500 - lo500) * 0.9, $"{hi30 - lo30} vs {hi500 - lo500}");   // width ∝ 1/√n: √(3000/180) ≈ 4.1
        var (lo, hi) = Stats.Wilson(1, 10);                                     // 10 of 10: no point interval at p̂ = 1
        Assert.Equal((0.7225, 1.0), (Math.Round(lo, 4), Math.Round(hi, 12)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stats.Wilson(0.5, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stats.Wilson(1.5, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stats.Wilson(double.NaN, 10));
    }

    [Fact]
    public void MeanStdAndIntervalOfThreeSeeds()
    {
        double[] v = [1, 2, 3];
        Assert.Equal(2.0, Stats.Mean(v), 12);
        Assert.Equal(1.0, Stats.SampleStd(v), 12); // √(((1−2)² + 0 + (3−2)²) / 2)
        var s = Stats.Summarize(v);
        Assert.Equal(3, s.N);
        Assert.Equal(4.303 / Math.Sqrt(3), s.HalfWidth, 12); // t(0.975, 2) = 4.303
        Assert.Equal(2 - 2.484338, s.Lower, 5);
        Assert.Equal(2 + 2.484338, s.Upper, 5);
        Assert.Equal("2.00 ± 2.48", s.Format());
    }

    [Fact]
    public void IntervalOfEightValuesUsesDf7()
    {
        double[] v = [2, 4, 4, 4, 5, 5, 7, 9];
        var s = Stats.Summarize(v);
        Assert.Equal(5.0, s.Mean, 12);
        Assert.Equal(Math.Sqrt(32.0 / 7), s.Std, 12);          // Σ(x − 5)² = 32
        Assert.Equal(2.365 * Math.Sqrt(32.0 / 7) / Math.Sqrt(8), s.HalfWidth, 12); // t(0.975, 7) = 2.365
    }

    [Theory]
    [InlineData(1, 12.706)]
    [InlineData(2, 4.303)]
    [InlineData(3, 3.182)]
    [InlineData(4, 2.776)]
    [InlineData(9, 2.262)]
    [InlineData(30, 2.042)]
    public void TableValues(int df, double t) => Assert.Equal(t, Stats.TCritical95(df), 12);

    [Theory]
    [InlineData(1, 12.706)]
    [InlineData(2, 4.303)]
    [InlineData(4, 2.776)]
    [InlineData(10, 2.228)]
    [InlineData(30, 2.042)]
    public void TheCdfAgreesWithTheTable(int df, double t) => Assert.Equal(0.975, Stats.StudentCdf(t, df), 4);

    [Fact]
    public void CdfSpecialCases()
    {
        Assert.Equal(0.5, Stats.StudentCdf(0, 3), 12);
        Assert.Equal(0.75, Stats.StudentCdf(1, 1), 10);                 // Cauchy: ½ + atan(1)/π
        Assert.Equal(0.5 + 1 / (2 * Math.Sqrt(3)), Stats.StudentCdf(1, 2), 10); // df 2: ½ + t / (2√(2 + t²))
        Assert.Equal(1 - Stats.StudentCdf(1.7, 6), Stats.StudentCdf(-1.7, 6), 12);
    }

    [Theory]
    [InlineData(2.5, 3.5747)]   // values from numerical integration of the t density
    [InlineData(50.0 / 17, 3.2187)]
    [InlineData(35, 2.0301)]
    [InlineData(1000, 1.9623)]
    public void FractionalAndLargeDfSolveTheCdf(double df, double t) => Assert.Equal(t, Stats.TCritical95(df), 3);

    [Fact]
    public void WelchDifferenceByHand()
    {
        // a: mean 2, s² = 1; b: mean 6, s² = 4; SE² = 1/3 + 4/3 = 5/3; df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = 50/17
        var d = Stats.WelchDifference([1, 2, 3], [4, 6, 8]);
        Assert.Equal(-4.0, d.Difference, 12);
        Assert.Equal(Math.Sqrt(5.0 / 3), d.StdError, 12);
        Assert.Equal(50.0 / 17, d.Df, 12);
        Assert.Equal(Stats.TCritical95(50.0 / 17) * Math.Sqrt(5.0 / 3), d.HalfWidth, 12);
        Assert.InRange(d.HalfWidth, 4.150, 4.160); // 3.2187 · 1.29099 = 4.1554
        Assert.Equal(-4 - d.HalfWidth, d.Lower, 12);
        Assert.False(d.Significant); // −4 ± 4.155 still covers 0 with three seeds each
        Assert.True(Stats.WelchDifference([1, 2, 3], [11, 12, 13]).Significant);
    }

    [Fact]
    public void EqualVariancesAndSizesGiveThePooledDf()
    {
        // equal n and s²: Welch's df is 2(n − 1)
        var d = Stats.WelchDifference([1, 2, 3], [11, 12, 13]);
        Assert.Equal(4.0, d.Df, 12);
        Assert.Equal(2.776 * Math.Sqrt(2.0 / 3), d.HalfWidth, 12);
    }

    [Fact]
    public void DegenerateInputs()
    {
        var one = Stats.Summarize([3.5]);
        Assert.True(double.IsNaN(one.Std) && double.IsNaN(one.HalfWidth));
        Assert.Equal("3.50", one.Format());
        Assert.Throws<ArgumentException>(() => Stats.SampleStd([1.0]));
        Assert.Throws<ArgumentException>(() => Stats.Mean([]));
        Assert.Throws<ArgumentException>(() => Stats.Mean([1, double.NaN]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stats.TCritical95(0.5));
        var flat = Stats.WelchDifference([2, 2], [1, 1]);
        Assert.Equal(1.0, flat.Difference);
        Assert.Equal(0.0, flat.HalfWidth);
    }
}
