using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Benchmarks;

/// <summary>
/// Fréchet distance between two feature sets (FID when the features are Inception pool features;
/// reference §6.4, the authors' <c>fid_score.py</c> after pytorch-fid):
/// d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}.
/// </summary>
/// <remarks>
/// pytorch-fid takes <c>scipy.linalg.sqrtm(Σ₁Σ₂)</c> of a non-symmetric product. We use the identity
/// tr √(Σ₁Σ₂) = tr √(Σ₁^{1/2} Σ₂ Σ₁^{1/2}), whose argument is symmetric positive semi-definite, so both
/// square roots come from symmetric eigendecompositions (<c>linalg.eigh</c>) in float64 on the CPU;
/// eigenvalues that round to slightly below zero are clamped to zero. Covariances are unbiased (N − 1),
/// as <c>np.cov(rowvar=False)</c>.
/// </remarks>
public static class Fid
{
    /// <summary>Mean [D] and unbiased covariance [D, D] (float64, CPU) of a feature matrix [N, D].</summary>
    public static (Tensor Mean, Tensor Cov) Statistics(Tensor features)
    {
        if (features.dim() != 2)
            throw new ArgumentException($"features: expected [N, D], found [{string.Join(", ", features.shape)}].");
        long n = features.shape[0];
        if (n < 2) throw new ArgumentException($"features: need at least 2 rows for a covariance, found {n}.");
        using var scope = NewDisposeScope();
        var x = features.to(ScalarType.Float64, CPU);             // [N, D]
        var mean = x.mean([0L]);                                  // [D]
        var centred = x - mean.unsqueeze(0);                      // [N, D]
        var cov = centred.t().matmul(centred) / (double)(n - 1); // [D, D]
        return (mean.MoveToOuterDisposeScope(), cov.MoveToOuterDisposeScope());
    }

    /// <summary>Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂).</summary>
    public static double FrechetDistance(Tensor mu1, Tensor sigma1, Tensor mu2, Tensor sigma2)
    {
        if (mu1.dim() != 1 || mu2.dim() != 1 || mu1.shape[0] != mu2.shape[0])
            throw new ArgumentException($"mu1/mu2: expected two [D] vectors, found [{string.Join(", ", mu1.shape)}] and [{string.Join(", ", mu2.shape)}].");
        long d = mu1.shape[0];
        foreach (var (name, s) in new[] { ("sigma1", sigma1), ("sigma2", sigma2) })
            if (s.dim() != 2 || s.shape[0] != d || s.shape[1] != d)
                throw new ArgumentException($"{name}: expected [{d}, {d}], found [{string.Join(", ", s.shape)}].");

        using var scope = NewDisposeScope();
        var m1 = mu1.to(ScalarType.Float64, CPU);
        var m2 = mu2.to(ScalarType.Float64, CPU);
        var s1 = Symmetrize(sigma1.to(ScalarType.Float64, CPU));
        var s2 = Symmetrize(sigma2.to(ScalarType.Float64, CPU));

        var diff = m1 - m2;
        double meanTerm = diff.dot(diff).item<double>();

        var sqrtS1 = SymmetricSqrt(s1);                            // [D, D]
        var inner = Symmetrize(sqrtS1.matmul(s2).matmul(sqrtS1));  // [D, D], symmetric PSD
        var eig = linalg.eigvalsh(inner).clamp_min(0.0);          // [D]
        double traceSqrt = eig.sqrt().sum().item<double>();

        double fid = meanTerm + s1.trace().item<double>() + s2.trace().item<double>() - 2.0 * traceSqrt;
        return fid;
    }

    /// <summary>Fréchet distance between the Gaussians fitted to two feature matrices [N, D] and [M, D].</summary>
    public static double Compute(Tensor featuresA, Tensor featuresB)
    {
        if (featuresA.dim() != 2 || featuresB.dim() != 2 || featuresA.shape[1] != featuresB.shape[1])
            throw new ArgumentException($"features: expected [N, D] and [M, D], found [{string.Join(", ", featuresA.shape)}] and [{string.Join(", ", featuresB.shape)}].");
        var (m1, s1) = Statistics(featuresA);
        var (m2, s2) = Statistics(featuresB);
        using (m1) using (s1) using (m2) using (s2)
            return FrechetDistance(m1, s1, m2, s2);
    }

    /// <summary>Fréchet distance between two feature sets given as rows of equal length.</summary>
    public static double Compute(IReadOnlyList<float[]> featuresA, IReadOnlyList<float[]> featuresB)
    {
        using var a = ToMatrix(featuresA, nameof(featuresA));
        using var b = ToMatrix(featuresB, nameof(featuresB));
        return Compute(a, b);
    }

    static Tensor ToMatrix(IReadOnlyList<float[]> rows, string name)
    {
        if (rows.Count == 0) throw new ArgumentException($"{name}: no rows.");
        int d = rows[0].Length;
        var flat = new double[rows.Count * d];
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != d) throw new ArgumentException($"{name}: row {i} has {rows[i].Length} values, expected {d}.");
            for (int j = 0; j < d; j++) flat[i * d + j] = rows[i][j];
        }
        return tensor(flat, [rows.Count, d], ScalarType.Float64);
    }

    static Tensor Symmetrize(Tensor m) => (m + m.t()) * 0.5;

    // V diag(√max(λ, 0)) Vᵀ of a symmetric matrix.
    static Tensor SymmetricSqrt(Tensor m)
    {
        var (values, vectors) = linalg.eigh(m);                   // [D], [D, D]
        var root = values.clamp_min(0.0).sqrt();                  // [D]
        return (vectors * root.unsqueeze(0)).matmul(vectors.t()); // [D, D]
    }
}
