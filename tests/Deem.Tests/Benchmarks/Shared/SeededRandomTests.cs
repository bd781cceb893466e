using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

public class SeededRandomTests
{
    [Fact]
    public void ShuffleIsADeterministicPermutation()
    {
        int[] a = Enumerable.Range(0, 50).ToArray(), b = Enumerable.Range(0, 50).ToArray(), c = Enumerable.Range(0, 50).ToArray();
        new SeededRandom(8823).Shuffle(a);
        new SeededRandom(8823).Shuffle(b);
        new SeededRandom(8824).Shuffle(c);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(Enumerable.Range(0, 50), a.Order());
        Assert.NotEqual(Enumerable.Range(0, 50), a);
    }

    [Fact]
    public void NextIntStaysInRangeAndReachesEveryValue()
    {
        var rng = new SeededRandom(1);
        var seen = new int[7];
        for (int i = 0; i < 7000; i++) seen[rng.NextInt(7)]++;
        Assert.All(seen, n => Assert.InRange(n, 800, 1200)); // ≈ 1000 each
        Assert.Throws<ArgumentOutOfRangeException>(() => rng.NextInt(0));
    }
}
