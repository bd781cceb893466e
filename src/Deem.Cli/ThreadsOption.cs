using System.CommandLine;
using TorchSharp;

namespace Deem.Cli;

/// <summary>
/// <c>--threads</c> of the verbs that train or evaluate: torch's intra-op CPU threads for the whole process, set
/// before any work (a value below 1 is a one-line error naming the option, exit 2).
/// </summary>
static class ThreadsOption
{
    /// <summary>
    /// Threads of a tiny-preset training process when none are asked for. Its steps are chains of small
    /// operations: a second OpenMP thread, waiting passively (<see cref="Deem.Diagnostics.ThreadSettings"/>),
    /// costs more in wake-ups than it computes, and spinning instead stalls a busy machine. Measured on
    /// 2 cores (docs/experiments.md §6): 150 SFT steps 24.1 s on one thread, 35.9 s on two; beside four
    /// CPU burners 30.0 s and 41.9 s; stage 0 23.6 s and 27.4 s.
    /// </summary>
    public const int TinyTraining = 1;

    /// <summary>A fresh <c>--threads</c> option (each command owns its option objects).</summary>
    public static Option<int?> Create(string defaultText = "torch's") =>
        new("--threads") { Description = $"torch CPU threads of this process (default: {defaultText})" };

    /// <summary>Sets torch's threads: the option's value, else <paramref name="whenUnset"/> when given.</summary>
    public static void Apply(ParseResult parse, Option<int?> option, int? whenUnset = null)
    {
        if ((parse.GetValue(option) ?? whenUnset) is not int n) return;
        if (n < 1) throw new DeemConfigException("--threads", "threads", $"must be > 0, found {n}");
        torch.set_num_threads(n);
    }
}
