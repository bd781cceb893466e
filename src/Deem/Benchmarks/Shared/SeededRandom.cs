namespace Deem.Benchmarks;

/// <summary>
/// A small seeded generator (SplitMix64) for the benchmark builders' shuffles and samples, so a given
/// seed gives the same benchmark files on every platform and .NET version. The authors' scripts use
/// Python's <c>random</c> (Mersenne Twister, e.g. <c>random.seed(8823)</c> for RobustVQA); we do not
/// reproduce Python's stream, so orders differ from theirs while every score that does not depend on
/// order (all of ours) is unaffected.
/// </summary>
public sealed class SeededRandom
{
    ulong _state;

    /// <summary>Creates a generator whose stream is fixed by <paramref name="seed"/>.</summary>
    public SeededRandom(ulong seed) => _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform integer in [0, <paramref name="n"/>) (rejection sampling, no modulo bias).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        ulong bound = (ulong)n;
        ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
        ulong r;
        do r = NextUInt64(); while (r >= limit);
        return (int)(r % bound);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
