using System.CommandLine;
using Deem.Serve;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem bench serve`: load on loopback against `deem serve` (<see cref="ServeBenchmark"/>) — p50/p99
/// latency and tokens/s of many concurrent clients against one client alone, and resident memory
/// before, during and after. A benchmark, not a test.
/// </summary>
public static class BenchServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "DEEM model folder (deem model --preset tiny --save DIR writes one)", Required = true };
        var clients = new Option<int>("--clients") { Description = "concurrent clients", DefaultValueFactory = _ => 200 };
        var seconds = new Option<double>("--seconds") { Description = "duration of the load", DefaultValueFactory = _ => 20 };
        var tokens = new Option<int>("--max-tokens") { Description = "tokens generated per request", DefaultValueFactory = _ => 16 };
        var batch = new Option<int>("--max-batch") { Description = "most rows decoded together (1 = no batching)", DefaultValueFactory = _ => 8 };
        var cmd = new Command("serve", "Latency, throughput and memory of deem serve under concurrent clients") { model, clients, seconds, tokens, batch };
        var placement = PlacementOptions.ForInference(cmd);
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var settings = new ServeSettings(parse.GetValue(model)!, MaxBatch: parse.GetValue(batch), Placement: placement.Read(parse));
            var r = ServeBenchmark.Run(settings, parse.GetValue(clients), parse.GetValue(seconds), parse.GetValue(tokens),
                line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]")).GetAwaiter().GetResult();
            var table = new Table().Title($"deem serve under load (max batch {settings.MaxBatch})").AddColumn("").AddColumn(new TableColumn("1 client").RightAligned())
                .AddColumn(new TableColumn($"{r.Clients} clients").RightAligned());
            table.AddRow("requests (errors)", "", $"{r.Requests} ({r.Errors})");
            table.AddRow("latency p50", $"{r.SingleP50Ms:F0} ms", $"{r.P50Ms:F0} ms");
            table.AddRow("latency p99", "", $"{r.P99Ms:F0} ms");
            table.AddRow("tokens/s", $"{r.SingleTokensPerSecond:F1}", $"{r.TokensPerSecond:F1} ({r.TokensPerSecond / r.SingleTokensPerSecond:F2}×)");
            table.AddRow("RSS before / peak / after", "", $"{r.RssBeforeMb:F0} / {r.RssPeakMb:F0} / {r.RssAfterMb:F0} MB");
            AnsiConsole.Write(table);
            return 0;
        }));
        return cmd;
    }
}
