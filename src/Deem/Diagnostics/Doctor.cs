using System.Diagnostics;
using System.Runtime.InteropServices;
using Deem.Build;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diagnostics;

/// <summary>What `deem doctor` reports about this machine's .NET and libtorch set-up.</summary>
public sealed record DoctorReport(
    string DotNet,
    string Os,
    string TorchSharp,
    string Backend,
    bool CudaAvailable,
    int Threads,
    string? NativeLibrary,
    string LibStdCxxPatch,
    string ScalarLifetimePatch,
    int MatmulSize,
    double MatmulGflops);

/// <summary>
/// Environment checks and a measured fp32 matmul rate: the figure later performance work compares
/// against. Nothing here is hard-coded; every value is read or measured at run time.
/// </summary>
public static class Doctor
{
    public static DoctorReport Run(int matmulSize = 1024, double seconds = 2.0)
    {
        if (matmulSize < 1 || matmulSize > 16384)
            throw new DeemException($"--size: the matmul side must be in [1, 16384], got {matmulSize}");
        if (!(seconds > 0) || seconds > 600)
            throw new DeemException($"--seconds: the benchmark time must be in (0, 600], got {seconds}");
        bool cuda = torch.cuda.is_available();
        var native = FindLibTorchSharp();
        string patch = native is null ? "libLibTorchSharp.so not found" : DescribePatch(native);
        double gflops = MeasureMatmulGflops(matmulSize, seconds);
        return new DoctorReport(
            DotNet: RuntimeInformation.FrameworkDescription,
            Os: RuntimeInformation.OSDescription,
            TorchSharp: typeof(torch).Assembly.GetName().Version?.ToString() ?? "?",
            Backend: cuda ? "CUDA" : "CPU",
            CudaAvailable: cuda,
            Threads: torch.get_num_threads(),
            NativeLibrary: native,
            LibStdCxxPatch: patch,
            ScalarLifetimePatch: DescribeScalarLifetimes(typeof(torch).Assembly.Location),
            MatmulSize: matmulSize,
            MatmulGflops: gflops);
    }

    /// <summary>libtorch's own version string (e.g. "2.10.0"), as the loaded library reports it.</summary>
    public static string LibTorchVersion() => torch.__version__;

    /// <summary>
    /// fp32 GEMM rate: repeats C = A·B for n×n matrices for about <paramref name="seconds"/> and
    /// returns 2·n³·iterations / elapsed / 1e9. One warm-up product is not timed.
    /// </summary>
    public static double MeasureMatmulGflops(int n, double seconds)
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(1234);
        var a = torch.randn(new long[] { n, n }, generator: gen);
        var b = torch.randn(new long[] { n, n }, generator: gen);
        a.matmul(b).Dispose();
        var sw = Stopwatch.StartNew();
        long iters = 0;
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            a.matmul(b).Dispose();
            iters++;
        }
        sw.Stop();
        return 2.0 * n * (double)n * n * iters / sw.Elapsed.TotalSeconds / 1e9;
    }

    /// <summary>The libLibTorchSharp.so this process loads (next to the app, per the deps layout).</summary>
    public static string? FindLibTorchSharp()
    {
        string baseDir = AppContext.BaseDirectory;
        foreach (var candidate in new[]
                 {
                     Path.Combine(baseDir, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", "libLibTorchSharp.so"),
                     Path.Combine(baseDir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
                     Path.Combine(baseDir, "libLibTorchSharp.so"),
                 })
            if (File.Exists(candidate)) return candidate;
        return null;
    }

    /// <summary>States whether the GLIBCXX_3.4.32 requirement of the library is weak, strong or absent.</summary>
    public static string DescribePatch(string path)
    {
        foreach (var r in ElfVersionNeeds.Read(path))
            if (r.File == ElfVersionNeeds.LibStdCxx && r.Version == ElfVersionNeeds.Glibcxx3432)
                return r.IsWeak ? "applied (GLIBCXX_3.4.32 requirement is weak)" : "NOT applied (GLIBCXX_3.4.32 requirement is strong)";
        return "not needed (library does not require GLIBCXX_3.4.32)";
    }

    /// <summary>States how many of the TorchSharp.dll's Scalar-handling methods keep their Scalars alive.</summary>
    public static string DescribeScalarLifetimes(string path)
    {
        ScalarLifetimeScan scan;
        try { scan = ScalarLifetimes.Scan(path); }
        catch (Exception e) when (e is BadImageFormatException or IOException) { return "cannot tell: " + e.Message; }
        return scan.Kept == scan.Methods.Count
            ? $"applied (all {scan.Methods.Count} Scalar-handling methods unoptimized)"
            : $"NOT applied ({scan.Kept} of {scan.Methods.Count} Scalar-handling methods unoptimized)";
    }
}
