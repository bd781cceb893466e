using System.Runtime.InteropServices;

namespace Deem.Distributed;

/// <summary>
/// Open MPI's C API through P/Invoke. In Open MPI's ABI a handle (<c>MPI_COMM_WORLD</c>, <c>MPI_FLOAT</c>,
/// <c>MPI_SUM</c>) is the address of an exported global (<c>ompi_mpi_comm_world</c>, ...), so the handles
/// are resolved from the loaded library; <c>MPI_IN_PLACE</c> is <c>(void*)1</c>. libmpi is opened with
/// RTLD_GLOBAL, as mpi4py does, so Open MPI's plug-ins find its symbols.
/// </summary>
sealed class MpiNative
{
    public const int ThreadSerialized = 2;
    public static readonly IntPtr InPlace = 1;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int InitThreadFn(IntPtr argc, IntPtr argv, int required, out int provided);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int FlagFn(out int flag);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int FinalizeFn();
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int CommIntFn(IntPtr comm, out int value);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int AllreduceFn(IntPtr send, IntPtr recv, int count, IntPtr type, IntPtr op, IntPtr comm);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int BcastFn(IntPtr buffer, int count, IntPtr type, int root, IntPtr comm);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int ReduceScatterBlockFn(IntPtr send, IntPtr recv, int recvCount, IntPtr type, IntPtr op, IntPtr comm);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int AllgatherFn(IntPtr send, int sendCount, IntPtr sendType, IntPtr recv, int recvCount, IntPtr recvType, IntPtr comm);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int BarrierFn(IntPtr comm);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] public delegate int AbortFn(IntPtr comm, int code);

    public required InitThreadFn InitThread { get; init; }
    public required FlagFn Initialized { get; init; }
    public required FlagFn Finalized { get; init; }
    public required FinalizeFn Finalize { get; init; }
    public required CommIntFn CommRank { get; init; }
    public required CommIntFn CommSize { get; init; }
    public required AllreduceFn Allreduce { get; init; }
    public required BcastFn Bcast { get; init; }
    public required ReduceScatterBlockFn ReduceScatterBlock { get; init; }
    public required AllgatherFn Allgather { get; init; }
    public required BarrierFn Barrier { get; init; }
    public required AbortFn Abort { get; init; }
    public required IntPtr CommWorld { get; init; }
    public required IntPtr Float { get; init; }
    public required IntPtr Byte { get; init; }
    public required IntPtr OpSum { get; init; }

    static readonly string[] Candidates = ["libmpi.so.40", "libmpi.so"];
    const int RtldNow = 2, RtldGlobal = 0x100;

    [DllImport("libc.so.6", EntryPoint = "dlopen")] static extern IntPtr DlOpen(string file, int flags);

    /// <summary>Opens Open MPI's libmpi; a clear error when it is missing or is another MPI (whose handles are not addresses).</summary>
    public static MpiNative Load()
    {
        IntPtr lib = IntPtr.Zero;
        foreach (var name in Candidates)
        {
            try { lib = DlOpen(name, RtldNow | RtldGlobal); }
            catch (DllNotFoundException) { lib = IntPtr.Zero; }
            if (lib != IntPtr.Zero) break;
            if (NativeLibrary.TryLoad(name, out lib)) break;
        }
        if (lib == IntPtr.Zero)
            throw new DeemException("Open MPI's libmpi not found (libmpi.so.40): install it with `apt-get install -y openmpi-bin libopenmpi-dev`");
        if (!NativeLibrary.TryGetExport(lib, "ompi_mpi_comm_world", out var world))
            throw new DeemException("the libmpi found is not Open MPI (no ompi_mpi_comm_world); DeemSharp speaks Open MPI's ABI");
        T Fn<T>(string name) where T : Delegate => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(lib, name));
        return new MpiNative
        {
            InitThread = Fn<InitThreadFn>("MPI_Init_thread"), Initialized = Fn<FlagFn>("MPI_Initialized"),
            Finalized = Fn<FlagFn>("MPI_Finalized"), Finalize = Fn<FinalizeFn>("MPI_Finalize"),
            CommRank = Fn<CommIntFn>("MPI_Comm_rank"), CommSize = Fn<CommIntFn>("MPI_Comm_size"),
            Allreduce = Fn<AllreduceFn>("MPI_Allreduce"), Bcast = Fn<BcastFn>("MPI_Bcast"),
            ReduceScatterBlock = Fn<ReduceScatterBlockFn>("MPI_Reduce_scatter_block"), Allgather = Fn<AllgatherFn>("MPI_Allgather"),
            Barrier = Fn<BarrierFn>("MPI_Barrier"), Abort = Fn<AbortFn>("MPI_Abort"),
            CommWorld = world, Float = NativeLibrary.GetExport(lib, "ompi_mpi_float"), Byte = NativeLibrary.GetExport(lib, "ompi_mpi_byte"),
            OpSum = NativeLibrary.GetExport(lib, "ompi_mpi_op_sum"),
        };
    }

    /// <summary>Throws on a non-zero MPI return code (Open MPI's default handler aborts the job first, so this is a safeguard).</summary>
    public static void Check(int rc, string call)
    {
        if (rc != 0) throw new InvalidOperationException($"{call} failed with MPI error {rc}");
    }
}
