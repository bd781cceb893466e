using System.Runtime.InteropServices;
using Deem.Diagnostics;
using Xunit;

namespace Deem.Tests.Diagnostics;

public class AllocatorSettingsTests
{
    [Fact]
    public void SetsGlibcsParametersUnlessTheUserChoseOne()
    {
        // glibc's mallopt numbers: M_TRIM_THRESHOLD −1, M_TOP_PAD −2, M_MMAP_THRESHOLD −3 (at most 32 MiB on 64-bit), M_MMAP_MAX −4.
        Assert.Equal([-3, -1, -2, -4], AllocatorSettings.Values.Select(v => v.Parameter));
        Assert.Equal(32 << 20, AllocatorSettings.Values.Single(v => v.Parameter == -3).Value);
        Assert.Equal(0, AllocatorSettings.Values.Single(v => v.Parameter == -4).Value);
        var result = AllocatorSettings.KeepFreedPages();
        if (!OperatingSystem.IsLinux()) { Assert.Equal("platform default", result); return; }
        var user = AllocatorSettings.UserSettings.FirstOrDefault(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));
        // mallopt returns 1 for each accepted value: a refused one (an out-of-range threshold) shows here.
        Assert.Equal(user is null ? AllocatorSettings.InForceText : $"as set by {user}", result);
        Assert.Equal(result, AllocatorSettings.InForce);
    }

    [Fact]
    public void ABlockAboveTheMmapCeilingComesFromTheHeap()
    {
        var result = AllocatorSettings.KeepFreedPages();
        if (result != AllocatorSettings.InForceText) return;   // not glibc, or the user's own malloc settings
        // glibc keeps a chunk's size word just before the pointer it returns; bit 1 (IS_MMAPPED) marks a block
        // mapped on its own, which free() unmaps and the next allocation faults in again page by page. 40 MiB is
        // above the 32 MiB threshold: glibc's defaults map it, the settings keep it in the heap.
        const long size = 40 << 20;
        IntPtr p = Marshal.AllocHGlobal((IntPtr)size);                    // malloc on Unix
        try
        {
            long sizeWord = Marshal.ReadInt64(p, -sizeof(long));
            Assert.True(sizeWord >= size, $"not a glibc chunk header: size word {sizeWord}");
            Assert.Equal(0L, sizeWord & 2);
        }
        finally
        {
            Marshal.FreeHGlobal(p);
        }
    }
}
