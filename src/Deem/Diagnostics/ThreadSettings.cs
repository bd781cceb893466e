using System.Runtime.InteropServices;

namespace Deem.Diagnostics;

/// <summary>
/// How libtorch's OpenMP threads wait. By default an idle OpenMP thread spins for a while before it
/// sleeps; on a machine whose cores are shared with other busy processes the spinning threads steal
/// the cores their peers need, and a 2-thread training step measured 31 s against 1.4 s with passive
/// waiting (`deem bench train-step --variants csr-fused csr-fused@1`, both in one run, load ≈ 35 on 2
/// cores). Passive waiting is set unless the user chose a policy.
/// </summary>
public static class ThreadSettings
{
    public const string WaitPolicy = "OMP_WAIT_POLICY";

    /// <summary>
    /// Sets OMP_WAIT_POLICY=PASSIVE in the native environment when it is unset. Takes effect only if
    /// called before libtorch is loaded (the first use of <c>torch</c> in the process); returns the policy in force.
    /// </summary>
    public static string UsePassiveOpenMpWait() => InForce = Apply();

    /// <summary>The policy the last <see cref="UsePassiveOpenMpWait"/> left in force; null before it ran (for <c>deem doctor</c>).</summary>
    public static string? InForce { get; private set; }

    static string Apply()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return Environment.GetEnvironmentVariable(WaitPolicy) ?? "default";
        var current = Marshal.PtrToStringAnsi(getenv(WaitPolicy));
        if (!string.IsNullOrEmpty(current)) return current;
        setenv(WaitPolicy, "PASSIVE", 0);
        return "PASSIVE";
    }

    [DllImport("libc", CharSet = CharSet.Ansi)]
    private static extern IntPtr getenv(string name);

    [DllImport("libc", CharSet = CharSet.Ansi)]
    private static extern int setenv(string name, string value, int overwrite);
}
