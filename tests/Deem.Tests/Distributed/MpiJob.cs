using System.Diagnostics;
using Deem.IO;
using Deem.Tests.Data;
using static TorchSharp.torch;

namespace Deem.Tests.Distributed;

/// <summary>
/// Runs <c>mpirun -np N dotnet deem.dll ...</c> (the CLI next to the test assembly) on a small world made
/// once. Open MPI is installed by apt-get when it is missing and the tests run as root; otherwise the
/// fixture fails, saying how to install it.
/// </summary>
public sealed class MpiJob : IDisposable
{
    readonly TempDir _dir = new();
    static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "deem.dll");

    public MpiJob()
    {
        Mpirun = FindMpirun() ?? InstallOpenMpi();
        var world = Run("dotnet", [Cli, "world", "make", "--out", World, "--scale", "0.05"], TimeSpan.FromMinutes(2));
        if (world.ExitCode != 0) throw new InvalidOperationException("deem world make failed:\n" + world.Output);
    }

    public string Mpirun { get; }
    public string Root => _dir.Path;
    public string World => Path.Combine(_dir.Path, "world");

    static string? FindMpirun() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    static string InstallOpenMpi()
    {
        const string install = "apt-get install -y openmpi-bin libopenmpi-dev";
        if (Environment.UserName != "root")
            throw new InvalidOperationException($"the multi-rank tests need Open MPI's mpirun: install it with `sudo apt-get update && sudo {install}`");
        var update = Run("apt-get", ["update"], TimeSpan.FromMinutes(5));
        var run = Run("bash", ["-c", "DEBIAN_FRONTEND=noninteractive " + install], TimeSpan.FromMinutes(10));
        return FindMpirun() ?? throw new InvalidOperationException(
            $"the multi-rank tests need Open MPI's mpirun and `{install}` did not provide it:\n{update.Output}\n{run.Output}");
    }

    /// <summary>A finished process: exit code and stdout + stderr.</summary>
    public sealed record Result(int ExitCode, string Output);

    /// <summary>Starts <paramref name="file"/>; <paramref name="onLine"/> sees each output line as it comes.</summary>
    public static Result Run(string file, IEnumerable<string> args, TimeSpan timeout, Action<string>? onLine = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        info.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var p = new Process { StartInfo = info };
        var output = new System.Text.StringBuilder();
        void Line(string? l)
        {
            if (l is null) return;
            lock (output) output.AppendLine(l);
            onLine?.Invoke(l);
        }
        p.OutputDataReceived += (_, e) => Line(e.Data);
        p.ErrorDataReceived += (_, e) => Line(e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)} still running after {timeout}:\n{output}");
        }
        p.WaitForExit();
        lock (output) return new Result(p.ExitCode, output.ToString());
    }

    /// <summary><c>mpirun -np <paramref name="ranks"/> deem train</c> on the tiny preset, stage 1 with CSR, one torch thread per rank
    /// (a <c>--resume</c> takes its preset from the checkpoint).</summary>
    public Result Train(int ranks, string outDir, IEnumerable<string> extra, Action<string>? onLine = null, int minutes = 3)
    {
        var args = extra.ToList();
        string[] preset = args.Contains("--resume") ? [] : ["--preset", "tiny"];
        return Run(Mpirun, ["-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe", "dotnet", Cli, "train",
            .. preset, "--stage", "1", "--world", World, "--out", Path.Combine(Root, outDir), "--threads", "1",
            "--eval-every", "0", "--save-every", "0", .. args], TimeSpan.FromMinutes(minutes), onLine);
    }

    /// <summary>Like <see cref="Train"/>, but the run must succeed.</summary>
    public void TrainOk(int ranks, string outDir, params string[] extra)
    {
        var r = Train(ranks, outDir, extra);
        if (r.ExitCode != 0) throw new InvalidOperationException($"mpirun -np {ranks} deem train {string.Join(' ', extra)} exited {r.ExitCode}:\n{r.Output}");
    }

    /// <summary>The largest |a − b| over the float tensors of two runs' model folders.</summary>
    public double MaxDifference(string runA, string runB)
    {
        using var a = SafetensorsFile.Open(Path.Combine(Root, runA, "model.safetensors"));
        using var b = SafetensorsFile.Open(Path.Combine(Root, runB, "model.safetensors"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double max = 0;
        foreach (var k in a.Keys)
        {
            using var x = a.Load(k);
            using var y = b.Load(k);
            if (x.dtype != ScalarType.Float32 || x.numel() == 0) continue;
            using var d = (x - y).abs().max();
            max = Math.Max(max, d.item<float>());
        }
        return max;
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>The multi-rank tests share one world and run one at a time (each job uses every core).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MpiCollection : ICollectionFixture<MpiJob>
{
    public const string Name = "mpi jobs";
}
