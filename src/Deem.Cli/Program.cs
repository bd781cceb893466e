using System.CommandLine;
using Deem;
using Deem.Cli;
using Spectre.Console;

// deem: the DeemSharp command line. One file per verb; each builds its System.CommandLine Command.
// Before libtorch loads: OpenMP threads wait passively (spinning threads stall on shared cores).
Deem.Diagnostics.ThreadSettings.UsePassiveOpenMpWait();
// glibc keeps the pages a step frees for the next step instead of trimming and re-faulting them.
Deem.Diagnostics.AllocatorSettings.KeepFreedPages();
// Redirected output (logs, CI) gets wide tables instead of 80 columns.
if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;

var root = new RootCommand("DeemSharp: DEEM (diffusion-corrected image encoder LMM) on TorchSharp");
root.Subcommands.Add(DoctorCommand.Create());
root.Subcommands.Add(ModelCommand.Create());
root.Subcommands.Add(ChatCommand.Create());
root.Subcommands.Add(AskCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(WorldCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(PlotCommand.Create());
root.Subcommands.Add(ExperimentCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(InterleaveCommand.Create());
root.Subcommands.Add(TokenizeCommand.Create());
root.Subcommands.Add(InspectCommand.Create());
root.Subcommands.Add(ImportCommand.Create());
root.Subcommands.Add(FuzzCommand.Create());
// `deem bench generate` (decode and DDIM speed) and `deem bench train-step` (CSR step-time overhead).
var bench = BenchCommand.Create();
bench.Subcommands.Add(BenchTrainCommand.TrainStep());
bench.Subcommands.Add(BenchServeCommand.Create());
bench.Subcommands.Add(BenchCheckpointingCommand.Create());
bench.Subcommands.Add(BenchScaleCommand.Create());
root.Subcommands.Add(bench);

try
{
    // The default handler would print any exception with its stack trace; a DeemException is the
    // user's input (file, field, shape) and gets one red line and exit code 2 instead.
    var parsed = root.Parse(args);
    if (args.Length > 0 && !args[0].StartsWith('-') && root.Subcommands.All(c => c.Name != args[0]))
    {
        Console.Error.WriteLine($"error: unknown verb '{args[0]}' (verbs: {string.Join(", ", root.Subcommands.Select(c => c.Name))})");
        return 2;
    }
    if (parsed.Errors.Count > 0 || parsed.UnmatchedTokens.Count > 0)
    {
        // An unknown verb or option, a missing argument: a user error, also when --help is given
        // (System.CommandLine reports no error then, and would print the root's help and exit 0).
        var messages = parsed.Errors.Count > 0
            ? parsed.Errors.Select(error => error.Message)
            : parsed.UnmatchedTokens.Select(token => $"unknown command or argument '{token}'");
        foreach (var message in messages) Console.Error.WriteLine($"error: {message}");
        Console.Error.WriteLine("Run 'deem --help' (or 'deem VERB --help') for usage.");
        return 2;
    }
    // No NNPACK: on CPUs it does not know, libtorch logs a warning at every large convolution. This loads
    // libtorch (0.7 s), so help, which needs no torch, is left without it.
    if (parsed.Action is not System.CommandLine.Help.HelpAction) Deem.Diagnostics.NnpackSettings.TurnOff();
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (DeemException e)
{
    // On stderr, so a verb's stdout (answers, reports) stays clean when the input is bad.
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (Exception e)
{
    // Anything else is a fault, not bad input: the type and the message's first line on stderr
    // (libtorch appends its C++ frames to the message); DEEM_DEBUG=1 adds both stack traces.
    bool debug = Environment.GetEnvironmentVariable("DEEM_DEBUG") == "1";
    string message = debug ? e.Message : e.Message.Split('\n', 2)[0].TrimEnd();
    Console.Error.WriteLine($"error: {e.GetType().Name}: {message}");
    if (debug) Console.Error.WriteLine(e.StackTrace);
    else Console.Error.WriteLine("(a fault, not bad input; DEEM_DEBUG=1 prints the stack trace)");
    return 1;
}
