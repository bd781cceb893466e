using static TorchSharp.torch;

namespace Deem.Distributed;

/// <summary>How <see cref="ICollectives.AllReduce"/> and <see cref="ICollectives.ReduceScatter"/> combine the ranks' values.</summary>
public enum ReduceOp
{
    /// <summary>Σ over ranks.</summary>
    Sum,
    /// <summary>Σ over ranks / world size.</summary>
    Avg,
}

/// <summary>
/// The collectives data parallelism needs (the subset of <c>torch.distributed</c> that DeepSpeed's
/// ZeRO-1 uses), on contiguous float32 tensors, in place where the shapes allow. Every rank must call
/// the same collectives in the same order with the same sizes; a backend blocks until all ranks arrive.
/// </summary>
public interface ICollectives : IDisposable
{
    /// <summary>This process's index in the job, 0 ≤ rank &lt; world size.</summary>
    int Rank { get; }
    /// <summary>Processes in the job.</summary>
    int WorldSize { get; }
    /// <summary>This process's index on its node (the GPU it drives).</summary>
    int LocalRank { get; }
    /// <summary>"single", "mpi", "mpi+nccl".</summary>
    string Backend { get; }
    /// <summary>Payload bytes this rank has handed to collectives so far (the tensors' sizes, not the wire protocol's).</summary>
    long BytesCommunicated { get; }

    /// <summary>t ← op over ranks of t, in place.</summary>
    void AllReduce(Tensor t, ReduceOp op = ReduceOp.Sum);

    /// <summary>t ← rank <paramref name="root"/>'s t, in place.</summary>
    void Broadcast(Tensor t, int root = 0);

    /// <summary><paramref name="output"/> [n] ← op over ranks of <paramref name="input"/>[rank·n, (rank+1)·n); input [W·n].</summary>
    void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum);

    /// <summary><paramref name="output"/> [W·n] ← the ranks' <paramref name="input"/> [n] concatenated in rank order.</summary>
    void AllGather(Tensor input, Tensor output);

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();
}

/// <summary>Shape and type checks shared by the backends.</summary>
static class CollectiveChecks
{
    public static void Flat(Tensor t, string what)
    {
        if (t.dtype != ScalarType.Float32) throw new ArgumentException($"{what}: collectives take float32 tensors, found {t.dtype}");
        if (!t.is_contiguous()) throw new ArgumentException($"{what}: collectives take contiguous tensors");
    }

    public static long Shard(Tensor input, Tensor output, int world, string what)
    {
        Flat(input, what + " input");
        Flat(output, what + " output");
        long n = output.numel();
        if (input.numel() != n * world)
            throw new ArgumentException($"{what}: input has {input.numel()} elements, expected world size {world} × {n}");
        if (input.device_type != output.device_type || input.device_index != output.device_index) throw new ArgumentException($"{what}: input on {input.device}, output on {output.device}");
        return n;
    }
}
