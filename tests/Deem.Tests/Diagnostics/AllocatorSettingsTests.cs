using Deem.Diagnostics;
using Xunit;

namespace Deem.Tests.Diagnostics;

public class AllocatorSettingsTests
{
    [Fact]
    public void SetsGlibcsParametersUnlessTheUserChoseOne()
    {
        // glibc's mallopt numbers: M_TRIM_THRESHOLD −1, M_TOP_PAD −2, M_MMAP_THRESHOLD −3 (at most 32 MiB on 64-bit).
        Assert.Equal([-3, -1, -2], AllocatorSettings.Values.Select(v => v.Parameter));
        Assert.Equal(32 << 20, AllocatorSettings.Values.Single(v => v.Parameter == -3).Value);
        var result = AllocatorSettings.KeepFreedPages();
        if (!OperatingSystem.IsLinux()) { Assert.Equal("platform default", result); return; }
        var user = AllocatorSettings.UserSettings.FirstOrDefault(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));
        // mallopt returns 1 for each accepted value: a refused one (an out-of-range threshold) shows here.
        Assert.Equal(user is null ? "mmap threshold 32 MiB, trim above 1 GiB, top pad 64 MiB" : $"as set by {user}", result);
        Assert.Equal(result, AllocatorSettings.InForce);
    }
}
