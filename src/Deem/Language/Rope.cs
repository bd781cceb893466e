using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// Rotary position embedding in the rotate-half convention of HF LLaMA (reference §1.6, §8 item 14):
/// frequencies <c>θ^(−2i/d)</c> for i &lt; d/2, angles = position × frequency duplicated over both
/// halves, and <c>x' = x·cos + rotate_half(x)·sin</c> with <c>rotate_half([a, b]) = [−b, a]</c>.
/// Angles are computed in fp32 from explicit position ids, so left-padded rows and KV-cache steps
/// get the positions their attention mask implies.
/// </summary>
public static class Rope
{
    /// <summary>cos and sin tables [B, L, headDim] for the given position ids [B, L], cast to <paramref name="dtype"/>.</summary>
    public static (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, int headDim, double theta, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var device = positionIds.device;
        var exponents = arange(0, headDim, 2, dtype: ScalarType.Float32, device: device) / headDim;   // [hD/2]
        var invFreq = pow(tensor(theta, device: device), exponents).reciprocal();                       // [hD/2]
        var angles = positionIds.to_type(ScalarType.Float32).unsqueeze(-1) * invFreq;                  // [B, L, hD/2]
        var emb = cat([angles, angles], dim: -1);                                                      // [B, L, hD]
        var cos = emb.cos().to_type(dtype).MoveToOuterDisposeScope();
        var sin = emb.sin().to_type(dtype).MoveToOuterDisposeScope();
        return (cos, sin);
    }

    /// <summary><c>[a, b] → [−b, a]</c> over the last dimension.</summary>
    public static Tensor RotateHalf(Tensor x)
    {
        var half = x.shape[^1] / 2;
        var a = x.narrow(-1, 0, half);
        var b = x.narrow(-1, half, half);
        return cat([b.neg(), a], dim: -1);
    }

    /// <summary>Rotates x [B, nH, L, hD] by cos/sin [B, L, hD].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var (c, s) = ForHeads(cos, sin);
        return ApplyForHeads(x, c, s).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The tables of <see cref="ApplyForHeads"/>, made once per forward for every layer: cos [B, 1, L, hD]
    /// and the sines with their first half negated, [B, 1, L, hD].
    /// </summary>
    public static (Tensor Cos, Tensor SignedSin) ForHeads(Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var half = sin.shape[^1] / 2;
        var signed = cat([sin.narrow(-1, 0, half).neg(), sin.narrow(-1, half, half)], dim: -1);        // [B, L, hD]
        return (cos.unsqueeze(1).MoveToOuterDisposeScope(), signed.unsqueeze(1).MoveToOuterDisposeScope()); // [B, 1, L, hD]
    }

    /// <summary>
    /// <c>x·cos + rotate_half(x)·sin</c> as <c>x·cos + roll(x, hD/2)·signedSin</c>: roll gives [b, a] and the
    /// signed sines put the minus on b, so every element is the same product as rotate_half's, bit for bit,
    /// in four operations instead of nine.
    /// </summary>
    /// <param name="x">[B, nH, L, hD].</param>
    /// <param name="cos">[B, 1, L, hD] from <see cref="ForHeads"/>.</param>
    /// <param name="signedSin">[B, 1, L, hD] from <see cref="ForHeads"/>.</param>
    public static Tensor ApplyForHeads(Tensor x, Tensor cos, Tensor signedSin)
    {
        using var scope = NewDisposeScope();
        return (x * cos + x.roll(x.shape[^1] / 2, -1) * signedSin).MoveToOuterDisposeScope();      // [B, nH, L, hD]
    }
}
