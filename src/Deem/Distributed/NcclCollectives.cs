using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Distributed;

/// <summary>
/// Collectives over NCCL on CUDA tensors' device pointers, on the legacy default stream (0) that
/// TorchSharp's kernels run on, so NCCL's kernels are ordered after the ones that wrote the tensors;
/// each call synchronises the stream before it returns. Rank 0's <c>ncclGetUniqueId</c> reaches the
/// other ranks through an MPI broadcast; each rank drives the GPU of its local rank.
/// </summary>
public sealed class NcclCollectives : ICollectives
{
    /// <summary><c>ncclUniqueId</c>: 128 opaque bytes, passed by value.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    struct UniqueId
    {
        public long B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15;
    }

    const int NcclFloat32 = 7, NcclSum = 0, NcclAvg = 4;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int GetUniqueIdFn(out UniqueId id);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int CommInitRankFn(out IntPtr comm, int nranks, UniqueId id, int rank);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int CommDestroyFn(IntPtr comm);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int AllReduceFn(IntPtr send, IntPtr recv, nuint count, int type, int op, IntPtr comm, IntPtr stream);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int BroadcastFn(IntPtr send, IntPtr recv, nuint count, int type, int root, IntPtr comm, IntPtr stream);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int ReduceScatterFn(IntPtr send, IntPtr recv, nuint recvCount, int type, int op, IntPtr comm, IntPtr stream);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int AllGatherFn(IntPtr send, IntPtr recv, nuint sendCount, int type, IntPtr comm, IntPtr stream);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate IntPtr ErrorStringFn(int result);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int CudaIntFn(int value);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int CudaStreamFn(IntPtr stream);

    readonly AllReduceFn _allReduce;
    readonly BroadcastFn _broadcast;
    readonly ReduceScatterFn _reduceScatter;
    readonly AllGatherFn _allGather;
    readonly ErrorStringFn _errorString;
    readonly CommDestroyFn _destroy;
    readonly CudaStreamFn _streamSynchronize;
    readonly IntPtr _comm;
    bool _disposed;

    /// <summary>Joins the NCCL communicator of all ranks; <paramref name="bootstrap"/> carries the unique id.</summary>
    public NcclCollectives(MpiCollectives bootstrap)
    {
        var nccl = Open(["libnccl.so.2", "libnccl.so"], "NCCL's libnccl.so.2 not found (install NCCL, e.g. `apt-get install libnccl2`, or use CPU tensors with the MPI backend)");
        var cudart = Open(["libcudart.so.12", "libcudart.so.11.0", "libcudart.so"], "CUDA's runtime libcudart.so not found");
        T Fn<T>(IntPtr lib, string name) where T : Delegate => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(lib, name));
        _allReduce = Fn<AllReduceFn>(nccl, "ncclAllReduce");
        _broadcast = Fn<BroadcastFn>(nccl, "ncclBroadcast");
        _reduceScatter = Fn<ReduceScatterFn>(nccl, "ncclReduceScatter");
        _allGather = Fn<AllGatherFn>(nccl, "ncclAllGather");
        _errorString = Fn<ErrorStringFn>(nccl, "ncclGetErrorString");
        _destroy = Fn<CommDestroyFn>(nccl, "ncclCommDestroy");
        _streamSynchronize = Fn<CudaStreamFn>(cudart, "cudaStreamSynchronize");
        (Rank, WorldSize, LocalRank) = (bootstrap.Rank, bootstrap.WorldSize, bootstrap.LocalRank);

        int rc = Fn<CudaIntFn>(cudart, "cudaSetDevice")(LocalRank);
        if (rc != 0) throw new DeemException($"cudaSetDevice({LocalRank}) failed with CUDA error {rc}: local rank {LocalRank} has no GPU");
        var id = default(UniqueId);
        if (Rank == 0) Check(Fn<GetUniqueIdFn>(nccl, "ncclGetUniqueId")(out id), "ncclGetUniqueId");
        var bytes = new byte[Marshal.SizeOf<UniqueId>()];
        MemoryMarshal.Write(bytes, in id);
        bootstrap.Broadcast(bytes, root: 0);
        id = MemoryMarshal.Read<UniqueId>(bytes);
        Check(Fn<CommInitRankFn>(nccl, "ncclCommInitRank")(out _comm, WorldSize, id, Rank), "ncclCommInitRank");
    }

    public int Rank { get; }
    public int WorldSize { get; }
    public int LocalRank { get; }
    public string Backend => "nccl";
    public long BytesCommunicated { get; private set; }

    static IntPtr Open(string[] names, string missing)
    {
        foreach (var name in names)
            if (NativeLibrary.TryLoad(name, out var lib)) return lib;
        throw new DeemException(missing);
    }

    void Check(int result, string call)
    {
        if (result != 0) throw new InvalidOperationException($"{call} failed: {Marshal.PtrToStringAnsi(_errorString(result))} (ncclResult {result})");
    }

    static void Cuda(Tensor t, string what)
    {
        CollectiveChecks.Flat(t, what);
        if (t.device_type != DeviceType.CUDA) throw new ArgumentException($"{what}: the NCCL backend takes CUDA tensors, found {t.device}");
    }

    void Synchronize(string call)
    {
        int rc = _streamSynchronize(IntPtr.Zero);
        if (rc != 0) throw new InvalidOperationException($"{call}: cudaStreamSynchronize failed with CUDA error {rc}");
    }

    public void AllReduce(Tensor t, ReduceOp op = ReduceOp.Sum)
    {
        Cuda(t, "all-reduce");
        IntPtr data = t.data_ptr();
        Check(_allReduce(data, data, (nuint)t.numel(), NcclFloat32, op == ReduceOp.Avg ? NcclAvg : NcclSum, _comm, IntPtr.Zero), "ncclAllReduce");
        Synchronize("ncclAllReduce");
        BytesCommunicated += t.numel() * sizeof(float);
    }

    public void Broadcast(Tensor t, int root = 0)
    {
        Cuda(t, "broadcast");
        IntPtr data = t.data_ptr();
        Check(_broadcast(data, data, (nuint)t.numel(), NcclFloat32, root, _comm, IntPtr.Zero), "ncclBroadcast");
        Synchronize("ncclBroadcast");
        BytesCommunicated += t.numel() * sizeof(float);
    }

    public void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        Cuda(input, "reduce-scatter input");
        Cuda(output, "reduce-scatter output");
        long n = CollectiveChecks.Shard(input, output, WorldSize, "reduce-scatter");
        Check(_reduceScatter(input.data_ptr(), output.data_ptr(), (nuint)n, NcclFloat32, op == ReduceOp.Avg ? NcclAvg : NcclSum, _comm, IntPtr.Zero), "ncclReduceScatter");
        Synchronize("ncclReduceScatter");
        BytesCommunicated += input.numel() * sizeof(float);
    }

    public void AllGather(Tensor input, Tensor output)
    {
        Cuda(input, "all-gather input");
        Cuda(output, "all-gather output");
        long n = CollectiveChecks.Shard(output, input, WorldSize, "all-gather");
        Check(_allGather(input.data_ptr(), output.data_ptr(), (nuint)n, NcclFloat32, _comm, IntPtr.Zero), "ncclAllGather");
        Synchronize("ncclAllGather");
        BytesCommunicated += output.numel() * sizeof(float);
    }

    /// <summary>An all-reduce of one float on the GPU, synchronised.</summary>
    public void Barrier()
    {
        using var one = zeros(1, device: new Device(DeviceType.CUDA, LocalRank));
        AllReduce(one);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _destroy(_comm);
    }
}
