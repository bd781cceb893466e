using static TorchSharp.torch;

namespace Deem.Distributed;

/// <summary>The world of one process: every collective is the identity (Avg over one rank is the value itself).</summary>
public sealed class SingleProcessCollectives : ICollectives
{
    public static readonly SingleProcessCollectives Instance = new();

    public int Rank => 0;
    public int WorldSize => 1;
    public int LocalRank => 0;
    public string Backend => "single";
    public long BytesCommunicated => 0;

    public void AllReduce(Tensor t, ReduceOp op = ReduceOp.Sum) => CollectiveChecks.Flat(t, "all-reduce");

    public void Broadcast(Tensor t, int root = 0)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), $"root {root} outside a world of 1");
    }

    public void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        CollectiveChecks.Shard(input, output, 1, "reduce-scatter");
        if (input.Handle != output.Handle) output.copy_(input);
    }

    public void AllGather(Tensor input, Tensor output)
    {
        CollectiveChecks.Shard(output, input, 1, "all-gather");
        if (input.Handle != output.Handle) output.copy_(input);
    }

    public void Barrier() { }

    public void Dispose() { }
}
