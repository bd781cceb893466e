using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Distributed;

/// <summary>Where this process stands in a job, as its launcher set the environment.</summary>
/// <param name="Rank">This process's index in the job.</param>
/// <param name="WorldSize">Processes in the job.</param>
/// <param name="LocalRank">This process's index on its node.</param>
/// <param name="Launcher">"mpirun" (OMPI_COMM_WORLD_*), "torchrun" (RANK/WORLD_SIZE/LOCAL_RANK) or "none".</param>
public sealed record LaunchEnvironment(int Rank, int WorldSize, int LocalRank, string Launcher)
{
    /// <summary>Open MPI's <c>OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK</c>, else torchrun's <c>RANK/WORLD_SIZE/LOCAL_RANK</c>, else one process.</summary>
    public static LaunchEnvironment Read(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        int? Int(string name)
        {
            string? v = env(name);
            if (v is null) return null;
            return int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i
                : throw new DeemConfigException("environment", name, $"must be a non-negative integer, found '{v}'");
        }
        LaunchEnvironment Checked(int rank, int size, int local, string launcher) =>
            size < 1 || rank >= size ? throw new DeemConfigException("environment", launcher == "mpirun" ? "OMPI_COMM_WORLD_RANK" : "RANK",
                $"rank {rank} outside a world of {size}") : new(rank, size, local, launcher);
        if (Int("OMPI_COMM_WORLD_SIZE") is int ompiSize)
            return Checked(Int("OMPI_COMM_WORLD_RANK") ?? 0, ompiSize, Int("OMPI_COMM_WORLD_LOCAL_RANK") ?? 0, "mpirun");
        if (Int("WORLD_SIZE") is int size)
            return Checked(Int("RANK") ?? 0, size, Int("LOCAL_RANK") ?? 0, "torchrun");
        return new(0, 1, 0, "none");
    }
}

/// <summary>
/// Opens the collectives a launched process uses: one process alone gets <see cref="SingleProcessCollectives"/>
/// (every existing path unchanged); under <c>mpirun</c> an Open MPI world whose calls go to NCCL for
/// CUDA tensors and to MPI for CPU tensors, chosen per call by the tensors' device.
/// </summary>
public static class Collectives
{
    public static ICollectives Open(LaunchEnvironment? launch = null)
    {
        launch ??= LaunchEnvironment.Read();
        return launch.Launcher switch
        {
            "none" => SingleProcessCollectives.Instance,
            "mpirun" => new DeviceRoutedCollectives(new MpiCollectives(launch.LocalRank)),
            _ when launch.WorldSize == 1 => SingleProcessCollectives.Instance,
            _ => throw new DeemConfigException("environment", "WORLD_SIZE",
                $"{launch.WorldSize} ranks from torchrun-style variables, but DeemSharp's collectives start through Open MPI: launch with `mpirun -np {launch.WorldSize} deem ...`"),
        };
    }
}

/// <summary>Ends a failed job: under mpirun every rank is stopped (MPI_Abort), so no rank waits forever in a collective.</summary>
public static class JobFailure
{
    /// <summary>Runs <paramref name="body"/>; an exception on any rank of a multi-rank job prints "rank r: ..." and aborts the whole job with exit code 2 (bad input) or 1 (fault).</summary>
    public static int RunOrAbort(ICollectives comm, Func<int> body)
    {
        if (comm is not DeviceRoutedCollectives routed || comm.WorldSize == 1) return body();
        try { return body(); }
        catch (Exception e)
        {
            int code = e is DeemException ? 2 : 1;
            Console.Error.WriteLine($"error: rank {comm.Rank} of {comm.WorldSize}: {(e is DeemException ? "" : e.GetType().Name + ": ")}{e.Message}; aborting the job");
            Console.Error.Flush();
            routed.Abort(code);
            return code;
        }
    }
}

/// <summary>MPI for CPU tensors, NCCL (opened at the first CUDA tensor, bootstrapped over MPI) for CUDA tensors.</summary>
public sealed class DeviceRoutedCollectives(MpiCollectives mpi) : ICollectives
{
    NcclCollectives? _nccl;

    public int Rank => mpi.Rank;
    public int WorldSize => mpi.WorldSize;
    public int LocalRank => mpi.LocalRank;
    public string Backend => _nccl is null ? "mpi" : "mpi+nccl";
    public long BytesCommunicated => mpi.BytesCommunicated + (_nccl?.BytesCommunicated ?? 0);

    ICollectives For(Tensor t) => t.device_type == DeviceType.CUDA ? _nccl ??= new NcclCollectives(mpi) : mpi;

    public void AllReduce(Tensor t, ReduceOp op = ReduceOp.Sum) => For(t).AllReduce(t, op);
    public void Broadcast(Tensor t, int root = 0) => For(t).Broadcast(t, root);
    public void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum) => For(input).ReduceScatter(input, output, op);
    public void AllGather(Tensor input, Tensor output) => For(input).AllGather(input, output);
    public void Barrier() => mpi.Barrier();

    /// <summary>Ends every rank of the job with <paramref name="code"/>.</summary>
    public void Abort(int code) => mpi.Abort(code);

    public void Dispose()
    {
        _nccl?.Dispose();
        mpi.Dispose();
    }
}
