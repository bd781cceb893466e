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
    static readonly DemoOptions Defaults = new();
    static readonly Option<string> OutDir = new("--out") { Description = "output folder", DefaultValueFactory = _ => Defaults.OutDir };
    static readonly Option<string> Seeds = new("--seeds") { Description = "seeds of every arm", DefaultValueFactory = _ => string.Join(",", Defaults.Seeds) };
    static readonly Option<int> Stage1 = new("--stage1-steps") { DefaultValueFactory = _ => Defaults.Stage1Steps };
    static readonly Option<int> Stage2 = new("--stage2-steps") { DefaultValueFactory = _ => Defaults.Stage2Steps };
    static readonly Option<int?> Stage0Steps = new("--stage0-steps") { Description = "steps per stage-0 component (default: the stage-0 defaults)" };
    static readonly Option<double> WorldScale = new("--world-scale") { Description = "multiplies the world's item counts", DefaultValueFactory = _ => Defaults.WorldScale };
    static readonly Option<int?> CaptionPairs = new("--caption-pairs") { Description = "image–caption pairs of the world (the stage-0 CLIP's data), overriding the scaled count" };
    static readonly Option<int?> VqaImages = new("--vqa-images") { Description = "instruction (SFT) images of the world, overriding the scaled count" };
    static readonly Option<int> Pope = new("--pope-images") { Description = "held-out images per POPE split", DefaultValueFactory = _ => Defaults.PopeImages };
    static readonly Option<string> Arch = new("--arch") { Description = "deem (baseline vs DEEM), llava (LLaVA-style without and with CSR) or deem,llava", DefaultValueFactory = _ => string.Join(",", Defaults.Arches) };
    static readonly Option<int?> Threads = ExperimentCommand.RunThreadsOption();
    // The demo's small runs go one process per core: on 2 cores two 1-thread runs side by side train ~1.8× the steps of one (docs/experiments.md §6).
    static readonly Option<int> Jobs = ExperimentCommand.JobsOption(defaultJobs: Environment.ProcessorCount);
    static readonly Option<int> ImageSize = new("--image-size") { Description = "side of the world's images and of the encoder, a multiple of 32", DefaultValueFactory = _ => Defaults.ImageSize };
    static readonly Option<int> Mmvp = new("--mmvp-pairs") { Description = "MMVP pairs (mined as CLIP-blind)", DefaultValueFactory = _ => Defaults.MmvpPairs };

    public static Command Create()
    {
        var cmd = new Command("demo", "Make the world, pretrain components, run the CSR experiment, print the table")
            { OutDir, Seeds, Arch, Stage1, Stage2, Stage0Steps, WorldScale, CaptionPairs, VqaImages, ImageSize, Pope, Mmvp, Threads, Jobs };
        cmd.SetAction(parse =>
        {
            var options = ToOptions(parse);
            ThreadsOption.Apply(parse, Threads, whenUnset: ThreadsOption.TinyTraining);
            int jobs = ExperimentCommand.ReadJobs(parse, Jobs);
            var result = Demo.Run(options, new DemoPhases(
                (world, s0, o) => TrainCommand.PretrainComponents(world, s0, o),
                experiment => ExperimentCommand.RunWithJobs(experiment, jobs),
                m => AnsiConsole.MarkupLine($"[bold]{Markup.Escape(m)}[/]")));
            Print(options, result);
            return 0;
        });
        return cmd;
    }

    /// <summary>The demo's options from a parse of <see cref="Create"/>'s command, validated.</summary>
    public static DemoOptions ToOptions(ParseResult parse)
    {
        var options = new DemoOptions
        {
            OutDir = parse.GetValue(OutDir)!, Seeds = ExperimentCommand.ParseSeeds(parse.GetValue(Seeds)!, "--seeds"),
            Stage0Steps = parse.GetValue(Stage0Steps), Stage1Steps = parse.GetValue(Stage1), Stage2Steps = parse.GetValue(Stage2),
            WorldScale = parse.GetValue(WorldScale), CaptionPairs = parse.GetValue(CaptionPairs), VqaImages = parse.GetValue(VqaImages), PopeImages = parse.GetValue(Pope), MmvpPairs = parse.GetValue(Mmvp),
            ImageSize = parse.GetValue(ImageSize),
            Arches = parse.GetValue(Arch)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
        options.Validate();
        return options;
    }

    static void Print(DemoOptions options, DemoResult result)
    {
        var table = new Table().Title("Accuracy by benchmark and question kind. " + AccuracyTable.SeedsNote(result.Arms));
        foreach (var (h, i) in AccuracyTable.Header(result.Arms).Select((h, i) => (h, i)))
            table.AddColumn(i == 0 ? new TableColumn(Markup.Escape(h)) : new TableColumn(Markup.Escape(h)).RightAligned());
        foreach (var row in AccuracyTable.Cells(result.Arms)) table.AddRow(row.Select(Markup.Escape).ToArray());
        AnsiConsole.Write(table);
        var smaller = options.Sizes().Where(s => s.Here != s.Full).Select(s => $"{s.Setting} {s.Here} (full: {s.Full})").ToList();
        if (smaller.Count > 0) AnsiConsole.MarkupLine(Markup.Escape("reduced run: " + string.Join("; ", smaller)));
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"done in {result.Elapsed.TotalMinutes:F1} min: report {Markup.Escape(result.Report)}, answers {Markup.Escape(result.AnswersPng ?? "(no predictions)")}, " +
            $"model folder {Markup.Escape(result.ModelDir)} (deem chat --model {Markup.Escape(result.ModelDir)}), images in {Markup.Escape(Path.GetDirectoryName(result.Images[0])!)}"));
    }
}
