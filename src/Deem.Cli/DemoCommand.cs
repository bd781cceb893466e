using System.CommandLine;
using System.Globalization;
using Deem.World.Experiments;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem demo`, the main job (<see cref="Demo"/>): makes the built-in world, pretrains the tiny
/// components, runs the CSR experiment at a reduced size and prints the accuracy by benchmark and
/// question kind beside chance; leaves the report, a picture of the trained model's answers on
/// held-out images, generated images and a model folder (for `deem chat`) in one folder. Resumable.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var d = new DemoOptions();
        var outDir = new Option<string>("--out") { Description = "output folder", DefaultValueFactory = _ => d.OutDir };
        var seeds = new Option<string>("--seeds") { Description = "seeds of every arm", DefaultValueFactory = _ => string.Join(",", d.Seeds) };
        var stage1 = new Option<int>("--stage1-steps") { DefaultValueFactory = _ => d.Stage1Steps };
        var stage2 = new Option<int>("--stage2-steps") { DefaultValueFactory = _ => d.Stage2Steps };
        var stage0Steps = new Option<int?>("--stage0-steps") { Description = "steps per stage-0 component (default: the stage-0 defaults)" };
        var worldScale = new Option<double>("--world-scale") { Description = "multiplies the world's item counts", DefaultValueFactory = _ => d.WorldScale };
        var pope = new Option<int>("--pope-images") { Description = "held-out images per POPE split", DefaultValueFactory = _ => d.PopeImages };
        var mmvp = new Option<int>("--mmvp-pairs") { Description = "MMVP pairs (mined as CLIP-blind)", DefaultValueFactory = _ => d.MmvpPairs };
        var cmd = new Command("demo", "Make the world, pretrain components, run the CSR experiment, print the table")
            { outDir, seeds, stage1, stage2, stage0Steps, worldScale, pope, mmvp };
        cmd.SetAction(parse =>
        {
            var options = new DemoOptions
            {
                OutDir = parse.GetValue(outDir)!, Seeds = ExperimentCommand.ParseSeeds(parse.GetValue(seeds)!, "--seeds"),
                Stage0Steps = parse.GetValue(stage0Steps), Stage1Steps = parse.GetValue(stage1), Stage2Steps = parse.GetValue(stage2),
                WorldScale = parse.GetValue(worldScale), PopeImages = parse.GetValue(pope), MmvpPairs = parse.GetValue(mmvp),
            };
            var result = Demo.Run(options, new DemoPhases(
                (world, s0, o) => Stage0Runner.Run(world, s0, o, Console.IsOutputRedirected),
                ExperimentCommand.Run,
                m => AnsiConsole.MarkupLine($"[bold]{Markup.Escape(m)}[/]")));
            Print(options, result);
            return 0;
        });
        return cmd;
    }

    static void Print(DemoOptions options, DemoResult result)
    {
        var table = new Table().Title("accuracy by benchmark and question kind — " + AccuracyTable.SeedsNote(result.Arms));
        foreach (var (h, i) in AccuracyTable.Header(result.Arms).Select((h, i) => (h, i)))
            table.AddColumn(i == 0 ? new TableColumn(Markup.Escape(h)) : new TableColumn(Markup.Escape(h)).RightAligned());
        foreach (var row in AccuracyTable.Cells(result.Arms)) table.AddRow(row.Select(Markup.Escape).ToArray());
        AnsiConsole.Write(table);
        var smaller = options.Sizes().Where(s => s.Here != s.Full).Select(s => $"{s.Setting} {s.Here} (full: {s.Full})").ToList();
        if (smaller.Count > 0) AnsiConsole.MarkupLine(Markup.Escape("reduced run: " + string.Join("; ", smaller)));
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"done in {result.Elapsed.TotalMinutes:F1} min: report {Markup.Escape(result.Report)}, answers {Markup.Escape(result.AnswersPng)}, " +
            $"model folder {Markup.Escape(result.ModelDir)} (deem chat --model {Markup.Escape(result.ModelDir)}), images in {Markup.Escape(Path.GetDirectoryName(result.Images[0])!)}"));
    }
}
