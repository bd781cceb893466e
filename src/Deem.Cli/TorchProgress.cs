using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// Progress bars around libtorch work, redrawn only from the working thread (call
/// <see cref="ProgressContext.Refresh"/> after each update).
/// <para>
/// Spectre.Console's auto-refresh redraws from a second thread every 100 ms, and its allocations start
/// garbage collections while the working thread is inside a libtorch call. TorchSharp 0.107 passes the
/// native handle of a <c>Scalar</c> it creates itself (every <c>x * 0.5</c>, the default <c>alpha = 1</c>
/// of each <c>add</c>/<c>sub</c>) without keeping the object alive, so such a collection can finalize and
/// free the Scalar while libtorch still reads it: a rare <c>ExternalException</c> ("Expected false to be
/// true") in long runs. The build's Scalar-lifetime patch (build/ScalarLifetimes) removes that cause; one
/// managed thread doing the work still keeps collections out of every native call, so nothing else that
/// TorchSharp leaves to the finalizer (a tensor made outside a dispose scope) can be freed mid-call either.
/// </para>
/// </summary>
static class TorchProgress
{
    /// <summary>A progress display without the background refresh thread.</summary>
    public static Progress Create() => AnsiConsole.Progress().AutoRefresh(false);
}
