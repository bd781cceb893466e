using System.Diagnostics;

namespace Deem.Diagnostics;

/// <summary>
/// Wall time per module of a training step, taken at module boundaries with <see cref="Stopwatch"/>
/// ticks. Sections nest: a section's time excludes its inner sections (the UNet's time does not hold
/// MMFSNet's), so the shares add up. CPU tensors are computed synchronously, so a boundary is a true
/// cut. Off unless a profiler is <see cref="Start"/>ed on the thread: then <see cref="Time"/> returns an
/// empty struct whose disposal does nothing.
/// </summary>
public sealed class StepProfiler
{
    /// <summary>The module names the training step is cut into (reference §1: the step's parts).</summary>
    public const string Data = "data", Encoder = "encoder", QFormer = "Q-Former", Llm = "LLM", Mmfs = "MMFS", UNet = "UNet",
        Vae = "VAE", Backward = "backward", Optimizer = "optimizer";

    [ThreadStatic] static StepProfiler? current;

    readonly Dictionary<string, long> _ticks = new(StringComparer.Ordinal);
    readonly Dictionary<string, int> _calls = new(StringComparer.Ordinal);
    readonly Stack<(string Name, long Start, long Inner)> _open = new();

    /// <summary>The profiler recording on this thread, or null.</summary>
    public static StepProfiler? Current => current;

    /// <summary>Makes <paramref name="profiler"/> record this thread's sections until <see cref="Stop"/>.</summary>
    public static void Start(StepProfiler profiler) => current = profiler;

    /// <summary>Stops recording on this thread.</summary>
    public static void Stop() => current = null;

    /// <summary>Opens a section; dispose it to close. Free when no profiler records.</summary>
    public static Section Time(string name)
    {
        var p = current;
        if (p is null) return default;
        p._open.Push((name, Stopwatch.GetTimestamp(), 0));
        return new Section(p);
    }

    /// <summary>An open section.</summary>
    public readonly struct Section(StepProfiler? owner) : IDisposable
    {
        public void Dispose() => owner?.Close();
    }

    void Close()
    {
        var (name, start, inner) = _open.Pop();
        long total = Stopwatch.GetTimestamp() - start;
        _ticks[name] = _ticks.GetValueOrDefault(name) + total - inner;
        _calls[name] = _calls.GetValueOrDefault(name) + 1;
        if (_open.TryPop(out var parent)) _open.Push(parent with { Inner = parent.Inner + total });
    }

    /// <summary>Seconds per section name since the last <see cref="Reset"/>, own time only.</summary>
    public IReadOnlyDictionary<string, double> Seconds =>
        _ticks.ToDictionary(kv => kv.Key, kv => (double)kv.Value / Stopwatch.Frequency, StringComparer.Ordinal);

    /// <summary>How often each section was entered since the last <see cref="Reset"/>.</summary>
    public IReadOnlyDictionary<string, int> Calls => _calls;

    /// <summary>Forgets the recorded times and counts.</summary>
    public void Reset()
    {
        _ticks.Clear();
        _calls.Clear();
    }
}
