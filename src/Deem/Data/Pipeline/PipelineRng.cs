namespace Deem.Data.Pipeline;

/// <summary>
/// The data pipeline's random source (reference §5: image sampling, placement, flips, batch mixing):
/// SplitMix64, whose whole state is one 64-bit number, so a data position can store it and a resumed
/// run draws exactly the numbers the straight run would have drawn. Written out here so the draws do
/// not depend on the runtime's <see cref="System.Random"/>.
/// </summary>
public sealed class PipelineRng
{
    const ulong Golden = 0x9E3779B97F4A7C15UL;

    public PipelineRng(ulong state) { State = state; }

    /// <summary>The generator for a named stream of a seed (e.g. "mmc4", "mix"): streams never overlap in practice.</summary>
    public static PipelineRng For(int seed, string stream, long index = 0)
    {
        ulong h = 14695981039346656037UL; // FNV-1a of the stream name
        foreach (char c in stream) { h ^= c; h *= 1099511628211UL; }
        return new PipelineRng(Mix(Mix((ulong)(uint)seed ^ h) ^ (ulong)index));
    }

    /// <summary>The whole state; set it to continue a saved sequence.</summary>
    public ulong State { get; set; }

    public ulong NextULong()
    {
        State += Golden;
        return Mix(State);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>True with probability <paramref name="p"/>.</summary>
    public bool Bernoulli(double p) => NextDouble() < p;

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        return (int)(NextDouble() * n);
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

    /// <summary>A random permutation of 0 … n−1.</summary>
    public int[] Permutation(int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        Shuffle(p);
        return p;
    }

    static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
