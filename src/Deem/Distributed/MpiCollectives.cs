using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Distributed;

/// <summary>
/// Collectives over Open MPI's <c>MPI_COMM_WORLD</c> on CPU tensors (launch with <c>mpirun -np N deem ...</c>).
/// Large all-reduces and broadcasts go in chunks of at most 2³⁰ elements (MPI counts are C ints).
/// A rank that dies is noticed by <c>mpirun</c>, which ends the job with a non-zero exit code.
/// </summary>
public sealed class MpiCollectives : ICollectives
{
    const long Chunk = 1L << 30;
    readonly MpiNative _mpi;
    readonly bool _owns;
    bool _disposed;

    public MpiCollectives(int localRank)
    {
        _mpi = MpiNative.Load();
        MpiNative.Check(_mpi.Initialized(out int initialized), "MPI_Initialized");
        if (initialized == 0)
        {
            MpiNative.Check(_mpi.InitThread(IntPtr.Zero, IntPtr.Zero, MpiNative.ThreadSerialized, out int provided), "MPI_Init_thread");
            if (provided < MpiNative.ThreadSerialized)
                throw new DeemException($"Open MPI provides thread level {provided}; DeemSharp needs MPI_THREAD_SERIALIZED ({MpiNative.ThreadSerialized})");
            _owns = true;
        }
        MpiNative.Check(_mpi.CommRank(_mpi.CommWorld, out int rank), "MPI_Comm_rank");
        MpiNative.Check(_mpi.CommSize(_mpi.CommWorld, out int size), "MPI_Comm_size");
        (Rank, WorldSize, LocalRank) = (rank, size, localRank);
    }

    public int Rank { get; }
    public int WorldSize { get; }
    public int LocalRank { get; }
    public string Backend => "mpi";
    public long BytesCommunicated { get; private set; }

    static void Cpu(Tensor t, string what)
    {
        CollectiveChecks.Flat(t, what);
        if (t.device_type != DeviceType.CPU) throw new ArgumentException($"{what}: the MPI backend takes CPU tensors, found {t.device}");
    }

    public void AllReduce(Tensor t, ReduceOp op = ReduceOp.Sum)
    {
        Cpu(t, "all-reduce");
        long n = t.numel();
        IntPtr data = t.data_ptr();
        for (long at = 0; at < n; at += Chunk)
        {
            int count = (int)Math.Min(Chunk, n - at);
            MpiNative.Check(_mpi.Allreduce(MpiNative.InPlace, data + (nint)(at * sizeof(float)), count, _mpi.Float, _mpi.OpSum, _mpi.CommWorld), "MPI_Allreduce");
        }
        BytesCommunicated += n * sizeof(float);
        if (op == ReduceOp.Avg) t.div_(WorldSize);
    }

    public void Broadcast(Tensor t, int root = 0)
    {
        Cpu(t, "broadcast");
        long n = t.numel();
        IntPtr data = t.data_ptr();
        for (long at = 0; at < n; at += Chunk)
            MpiNative.Check(_mpi.Bcast(data + (nint)(at * sizeof(float)), (int)Math.Min(Chunk, n - at), _mpi.Float, root, _mpi.CommWorld), "MPI_Bcast");
        BytesCommunicated += n * sizeof(float);
    }

    /// <summary>Broadcasts raw bytes from <paramref name="root"/> (the NCCL unique id).</summary>
    public void Broadcast(byte[] bytes, int root = 0)
    {
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(bytes, System.Runtime.InteropServices.GCHandleType.Pinned);
        try { MpiNative.Check(_mpi.Bcast(handle.AddrOfPinnedObject(), bytes.Length, _mpi.Byte, root, _mpi.CommWorld), "MPI_Bcast"); }
        finally { handle.Free(); }
        BytesCommunicated += bytes.Length;
    }

    public void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        Cpu(input, "reduce-scatter input");
        Cpu(output, "reduce-scatter output");
        long n = CollectiveChecks.Shard(input, output, WorldSize, "reduce-scatter");
        if (n > int.MaxValue) throw new ArgumentException($"reduce-scatter: shard of {n} elements exceeds MPI's int count");
        MpiNative.Check(_mpi.ReduceScatterBlock(input.data_ptr(), output.data_ptr(), (int)n, _mpi.Float, _mpi.OpSum, _mpi.CommWorld), "MPI_Reduce_scatter_block");
        BytesCommunicated += input.numel() * sizeof(float);
        if (op == ReduceOp.Avg) output.div_(WorldSize);
    }

    public void AllGather(Tensor input, Tensor output)
    {
        Cpu(input, "all-gather input");
        Cpu(output, "all-gather output");
        long n = CollectiveChecks.Shard(output, input, WorldSize, "all-gather");
        if (n > int.MaxValue) throw new ArgumentException($"all-gather: shard of {n} elements exceeds MPI's int count");
        MpiNative.Check(_mpi.Allgather(input.data_ptr(), (int)n, _mpi.Float, output.data_ptr(), (int)n, _mpi.Float, _mpi.CommWorld), "MPI_Allgather");
        BytesCommunicated += output.numel() * sizeof(float);
    }

    public void Barrier() => MpiNative.Check(_mpi.Barrier(_mpi.CommWorld), "MPI_Barrier");

    /// <summary>Ends the whole job with <paramref name="code"/> (every rank, not only this one).</summary>
    public void Abort(int code) => _mpi.Abort(_mpi.CommWorld, code);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_owns) return;
        _mpi.Finalized(out int finalized);
        if (finalized == 0) _mpi.Finalize();
    }
}
