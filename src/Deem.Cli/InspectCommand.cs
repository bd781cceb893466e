using System.CommandLine;
using System.Globalization;
using Deem.IO;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>`deem inspect FILE|DIR`: keys, shapes, dtypes and parameter totals of a checkpoint.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "a .safetensors, .bin/.pt, *.index.json, a model folder or a component folder" };
        var keys = new Option<int>("--keys") { Description = "tensors to list (0: none, -1: all)", DefaultValueFactory = _ => 50 };
        var cmd = new Command("inspect", "List a checkpoint's tensors (key, dtype, shape) and its parameter totals") { path, keys };
        cmd.SetAction(parse =>
        {
            var r = CheckpointInspection.Run(parse.GetValue(path)!);
            int n = parse.GetValue(keys);
            int show = n < 0 ? r.Tensors.Count : Math.Min(n, r.Tensors.Count);
            if (show > 0)
            {
                var table = new Table().AddColumn("key").AddColumn("dtype").AddColumn("shape").AddColumn(new TableColumn("elements").RightAligned());
                foreach (var t in r.Tensors.Take(show))
                    table.AddRow(Markup.Escape(t.Key), SafetensorsDtype.NameOf(t.Dtype), Markup.Escape(t.ShapeText), t.Elements.ToString("N0", CultureInfo.InvariantCulture));
                AnsiConsole.Write(table);
                if (show < r.Tensors.Count) AnsiConsole.MarkupLine($"[grey]… {r.Tensors.Count - show} more (--keys -1 lists all)[/]");
            }
            var totals = new Table().AddColumn("group").AddColumn(new TableColumn("parameters").RightAligned());
            foreach (var (prefix, count) in r.ByPrefix) totals.AddRow(Markup.Escape(prefix), count.ToString("N0", CultureInfo.InvariantCulture));
            foreach (var (dtype, count) in r.ByDtype) totals.AddRow(SafetensorsDtype.NameOf(dtype), count.ToString("N0", CultureInfo.InvariantCulture));
            AnsiConsole.Write(totals);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Path}: {r.Tensors.Count} tensors, {r.Parameters:N0} parameters ({r.Parameters / 1e6:F2} M), {r.Bytes / 1048576.0:F1} MiB"));
            return 0;
        });
        return cmd;
    }
}
