using System.CommandLine;
using System.Globalization;
using Deem.Diagnostics.Fuzz;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>`deem fuzz --target T --cases N --seed S`: seeded fuzzing of the input readers, counts per outcome.</summary>
public static class FuzzCommand
{
    public static Command Create()
    {
        var target = new Option<string>("--target") { Description = $"{string.Join(", ", FuzzTargets.Names)}, chat or all", DefaultValueFactory = _ => "all" };
        var cases = new Option<int>("--cases") { Description = "cases per target (the seeds included)", DefaultValueFactory = _ => 2000 };
        var seed = new Option<int>("--seed") { Description = "base seed; case i depends only on (seed, i)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("fuzz", "Fuzz the input readers with mutated valid files: ok / typed error / crash / wrong result") { target, cases, seed };
        cmd.SetAction(parse =>
        {
            // The server's request reader lives outside the core: its target is added here.
            var server = new Dictionary<string, Func<FuzzTarget>> { ["chat"] = () => new Deem.Serve.ChatRequestFuzzTarget() };
            var reports = FuzzTargets.Run(parse.GetValue(target)!, parse.GetValue(cases), parse.GetValue(seed), server);
            var table = new Table().AddColumns("target", "cases", "ok", "typed errors", "crashes", "wrong results", "seconds");
            foreach (var r in reports)
                table.AddRow(r.Target, I(r.Cases), I(r.Ok), I(r.TypedErrors), r.Crashes > 0 ? $"[red]{I(r.Crashes)}[/]" : "0",
                    r.WrongResults > 0 ? $"[red]{I(r.WrongResults)}[/]" : "0", r.Seconds.ToString("F1", CultureInfo.InvariantCulture));
            AnsiConsole.Write(table);
            foreach (var r in reports)
                foreach (var f in r.Findings) AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(r.Target)}[/] {Markup.Escape(f)}");
            return reports.Any(r => r.Crashes + r.WrongResults > 0) ? 1 : 0;
        });
        return cmd;
    }

    static string I(int x) => x.ToString(CultureInfo.InvariantCulture);
}
