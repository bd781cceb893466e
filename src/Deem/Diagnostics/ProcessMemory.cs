namespace Deem.Diagnostics;

/// <summary>
/// This process's resident memory as Linux reports it in <c>/proc/self/status</c>: <c>VmRSS</c> (now) and
/// <c>VmHWM</c> (the peak), which <see cref="ResetPeak"/> sets back to the current size (<c>/proc/self/clear_refs</c>, "5").
/// Elsewhere the values are null and the reset returns false.
/// </summary>
public static class ProcessMemory
{
    const string Status = "/proc/self/status";

    /// <summary>Resident bytes now, or null off Linux.</summary>
    public static long? Resident() => Field("VmRSS:");

    /// <summary>Peak resident bytes since start or the last <see cref="ResetPeak"/>, or null off Linux.</summary>
    public static long? Peak() => Field("VmHWM:");

    /// <summary>Sets the peak back to the current resident size; false when the kernel does not allow it.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException) { return false; }
    }

    static long? Field(string name)
    {
        if (!File.Exists(Status)) return null;
        foreach (var line in File.ReadLines(Status))
            if (line.StartsWith(name, StringComparison.Ordinal))
                return long.Parse(line[name.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;   // "  123 kB"
        return null;
    }
}
