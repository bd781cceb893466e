using Deem.Benchmarks;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Benchmarks;

public class FidTests
{
    // The four corners (±1, ±1): mean 0, unbiased covariance diag(4/3, 4/3) (sum of squares 4, N − 1 = 3).
    static float[][] Corners(float sx, float sy, float mx, float my) =>
    [
        [mx + sx, my + sy], [mx + sx, my - sy], [mx - sx, my + sy], [mx - sx, my - sy],
    ];

    [Fact]
    public void IdenticalSetsGiveZero()
    {
        var g = new Generator(seed: 3);
        using var x = randn([64, 8], generator: g);
        double fid = Fid.Compute(x, x);
        Assert.InRange(Math.Abs(fid), 0.0, 1e-6);
    }

    [Fact]
    public void DiagonalGaussiansMatchTheClosedForm()
    {
        // set 1: μ = (0, 0), Σ = diag(4/3 · 1², 4/3 · 2²) = diag(4/3, 16/3)
        // set 2: μ = (3, 4), Σ = diag(16/3, 4/3)
        // FID = ‖μ₁−μ₂‖² + Σᵢ (√σ₁ᵢ − √σ₂ᵢ)² = 25 + 2 · (2/√3 − 4/√3)² = 25 + 2 · 4/3 = 25 + 8/3
        double fid = Fid.Compute(Corners(1, 2, 0, 0), Corners(2, 1, 3, 4));
        Assert.Equal(25.0 + 8.0 / 3.0, fid, 9);
    }

    [Fact]
    public void ScaledFullCovarianceMatchesTheClosedForm()
    {
        // Σ₂ = c²Σ₁ with a non-diagonal Σ₁: √(Σ₁Σ₂) = cΣ₁, so FID = ‖Δμ‖² + (1 − c)² tr Σ₁.
        using var s1 = tensor(new double[] { 2.0, 0.6, 0.1, 0.6, 1.0, -0.3, 0.1, -0.3, 0.5 }, [3, 3]);
        double c = 2.5;
        using var s2 = s1 * (c * c);
        using var m1 = tensor(new double[] { 1, 2, 3 });
        using var m2 = tensor(new double[] { 0, 2, 5 });
        double expected = 1 + 0 + 4 + (1 - c) * (1 - c) * (2.0 + 1.0 + 0.5);
        Assert.Equal(expected, Fid.FrechetDistance(m1, s1, m2, s2), 9);
        // and the distance is symmetric
        Assert.Equal(expected, Fid.FrechetDistance(m2, s2, m1, s1), 9);
    }

    [Fact]
    public void StatisticsAreMeanAndUnbiasedCovariance()
    {
        using var x = tensor(new float[] { 1, 2, 3, 6 }, [2, 2]);
        var (mean, cov) = Fid.Statistics(x);
        using (mean) using (cov)
        {
            Assert.Equal(new[] { 2.0, 4.0 }, mean.data<double>().ToArray());
            // deviations (−1, −2), (1, 2); sums of products / (N − 1 = 1)
            Assert.Equal(new[] { 2.0, 4.0, 4.0, 8.0 }, cov.data<double>().ToArray());
        }
        using var one = zeros(1, 2);
        Assert.Throws<ArgumentException>(() => Fid.Statistics(one));
    }
}
