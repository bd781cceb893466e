using Deem.Distributed;
using static TorchSharp.torch;

namespace Deem.Tests.Distributed;

public class CollectivesTests
{
    static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Key == name).Value;

    [Fact]
    public void LaunchEnvironmentPrefersOpenMpiThenTorchrun()
    {
        Assert.Equal(new LaunchEnvironment(3, 8, 1, "mpirun"),
            LaunchEnvironment.Read(Env(("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "8"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1"), ("RANK", "0"), ("WORLD_SIZE", "2"))));
        Assert.Equal(new LaunchEnvironment(1, 2, 1, "torchrun"), LaunchEnvironment.Read(Env(("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1"))));
        Assert.Equal(new LaunchEnvironment(0, 1, 0, "none"), LaunchEnvironment.Read(Env()));
    }

    [Fact]
    public void BadLaunchVariablesAreConfigErrorsNamingThem()
    {
        var e = Assert.Throws<DeemConfigException>(() => LaunchEnvironment.Read(Env(("RANK", "2"), ("WORLD_SIZE", "2"))));
        Assert.Equal("RANK", e.Field);
        e = Assert.Throws<DeemConfigException>(() => LaunchEnvironment.Read(Env(("OMPI_COMM_WORLD_SIZE", "two"))));
        Assert.Equal("OMPI_COMM_WORLD_SIZE", e.Field);
        e = Assert.Throws<DeemConfigException>(() => Collectives.Open(new LaunchEnvironment(0, 4, 0, "torchrun")));
        Assert.Contains("mpirun -np 4", e.Message);
        Assert.Same(SingleProcessCollectives.Instance, Collectives.Open(new LaunchEnvironment(0, 1, 0, "none")));
    }

    [Fact]
    public void OneProcessCollectivesAreTheIdentity()
    {
        var c = SingleProcessCollectives.Instance;
        using var g = new Generator(3);
        using var t = randn(new long[] { 6 }, generator: g);
        using var before = t.clone();
        c.AllReduce(t, ReduceOp.Avg);
        c.Broadcast(t);
        Assert.True(t.allclose(before, rtol: 0, atol: 0));
        using var output = zeros(6);
        c.ReduceScatter(t, output);
        Assert.True(output.allclose(before, rtol: 0, atol: 0));
        using var gathered = zeros(6);
        c.AllGather(output, gathered);
        Assert.True(gathered.allclose(before, rtol: 0, atol: 0));
        using var wrong = zeros(5);
        Assert.Throws<ArgumentException>(() => c.ReduceScatter(t, wrong));
        using var ints = zeros(new long[] { 3 }, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => c.AllReduce(ints));
    }

    [Fact]
    public void BucketsKeepOrderAndLimit()
    {
        var buckets = DataParallel.Buckets(new long[] { 4, 4, 3, 10, 1 }, n => n, limit: 8);
        Assert.Equal([[4L, 4L], [3L], [10L], [1L]], buckets.Select(b => b.ToArray()).ToArray());
    }
}
