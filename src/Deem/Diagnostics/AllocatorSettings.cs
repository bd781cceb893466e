using System.Runtime.InteropServices;

namespace Deem.Diagnostics;

/// <summary>
/// How glibc's malloc hands memory back to the kernel. libtorch's CPU allocator takes every tensor from
/// malloc, and a training step frees and re-allocates the same sizes thousands of times. With glibc's
/// defaults the mmap threshold moves with the sizes freed and the top of the heap is trimmed whenever
/// 2 × that threshold lies free, so a step keeps returning pages to the kernel and faulting fresh,
/// zeroed ones back in (a profile of the tiny stage-1 step: 10.5 % of its samples in the kernel, mostly
/// page faults and unmapping, 6 % in malloc and free). Fixing the threshold at 32 MiB (glibc's ceiling),
/// trimming only above 1 GiB free and growing the heap 64 MiB at a time keeps the pages of one step for the
/// next; measured in docs/experiments.md §7. A tensor above that ceiling (one 32-image chunk of the VAE's
/// activations at 96 px is 38 MB) would still be mapped afresh and faulted in page by page at every call,
/// so no block is mapped on its own (M_MMAP_MAX 0): a 96-px stage 0 of one step per component spent 108 of its
/// 157 s in the kernel, and now runs 3–4 × faster outside its training loops (§7). Set unless the user chose any
/// malloc setting.
/// </summary>
public static class AllocatorSettings
{
    /// <summary>The values set: (mallopt parameter, value). glibc: M_TRIM_THRESHOLD −1, M_TOP_PAD −2, M_MMAP_THRESHOLD −3, M_MMAP_MAX −4.</summary>
    public static IReadOnlyList<(int Parameter, int Value)> Values { get; } =
    [
        (-3, 32 << 20),            // M_MMAP_THRESHOLD: fixed (no longer dynamic), glibc's 64-bit maximum
        (-1, 1 << 30),             // M_TRIM_THRESHOLD
        (-2, 64 << 20),            // M_TOP_PAD
        (-4, 0),                   // M_MMAP_MAX: no block mapped on its own (glibc still maps when the heap cannot grow)
    ];

    /// <summary>Environment variables by which a user sets malloc's behaviour (any one of them: nothing is changed).</summary>
    public static IReadOnlyList<string> UserSettings { get; } =
        ["MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES", "LD_PRELOAD"];

    /// <summary>
    /// Applies <see cref="Values"/> through glibc's <c>mallopt</c> on Linux when no <see cref="UserSettings"/>
    /// variable is set; returns what is in force, in words.
    /// </summary>
    public static string KeepFreedPages() => InForce = Apply();

    /// <summary>What the last <see cref="KeepFreedPages"/> left in force, in words; null before it ran (for <c>deem doctor</c>).</summary>
    public static string? InForce { get; private set; }

    static string Apply()
    {
        if (!OperatingSystem.IsLinux()) return "platform default";
        var chosen = UserSettings.FirstOrDefault(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));
        if (chosen is not null) return $"as set by {chosen}";
        try
        {
            foreach (var (parameter, value) in Values)
                if (mallopt(parameter, value) != 1) return "glibc default (mallopt refused)";
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return "platform default (no glibc mallopt)";
        }
        return InForceText;
    }

    /// <summary>What <see cref="KeepFreedPages"/> reports when it set <see cref="Values"/>.</summary>
    public const string InForceText = "heap only (no mmap), trim above 1 GiB, top pad 64 MiB";

    [DllImport("libc")]
    private static extern int mallopt(int parameter, int value);
}
