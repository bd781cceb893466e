using System.CommandLine;
using Deem;
using Deem.Cli;
using Spectre.Console;

// deem: the DeemSharp command line. One file per verb; each builds its System.CommandLine Command.
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
// `deem bench generate` (decode and DDIM speed) and `deem bench train-step` (CSR step-time overhead).
var bench = BenchCommand.Create();
bench.Subcommands.Add(BenchTrainCommand.TrainStep());
root.Subcommands.Add(bench);

try
{
    // The default handler would print any exception with its stack trace; a DeemException is the
    // user's input (file, field, shape) and gets one red line and exit code 2 instead.
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (DeemException e)
{
    // On stderr, so a verb's stdout (answers, reports) stays clean when the input is bad.
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (Exception e)
{
    // Anything else is a fault, not bad input: the type, the message and where, on stderr.
    Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
    Console.Error.WriteLine(e.StackTrace);
    return 1;
}
