using System.CommandLine;
using TorchSharp;

namespace Deem.Cli;

/// <summary>
/// <c>--threads</c> of the verbs that train: torch's intra-op CPU threads for the whole process, set
/// before any work (a value below 1 is a one-line error naming the option, exit 2).
/// </summary>
static class ThreadsOption
{
    /// <summary>A fresh <c>--threads</c> option (each command owns its option objects).</summary>
    public static Option<int?> Create() => new("--threads") { Description = "torch CPU threads of this process (default: torch's)" };

    /// <summary>Sets torch's threads when the option was given.</summary>
    public static void Apply(ParseResult parse, Option<int?> option)
    {
        if (parse.GetValue(option) is not int n) return;
        if (n < 1) throw new DeemConfigException("--threads", "threads", $"must be > 0, found {n}");
        torch.set_num_threads(n);
    }
}
