using System.CommandLine;
using System.Diagnostics;
using Deem.World;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem world make`: writes the procedural world (interleaved documents, caption pairs, instruction
/// VQA, region masks, robustness test splits) in the real data layouts (reference §5, §6.1), the data
/// every training stage and benchmark reads on a machine without the real data sets.
/// </summary>
public static class WorldCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "folder to write the world into", Required = true };
        var seed = new Option<int>("--seed") { Description = "world seed (same seed, same bytes)", DefaultValueFactory = _ => 0 };
        var imageSize = new Option<int>("--image-size") { Description = "side of every image in pixels", DefaultValueFactory = _ => 64 };
        var scale = new Option<double>("--scale") { Description = "multiplies every item count of the default world", DefaultValueFactory = _ => 1.0 };
        var vqaImages = new Option<int?>("--vqa-images") { Description = "instruction (SFT) images, overriding the scaled count" };
        var captionPairs = new Option<int?>("--caption-pairs") { Description = "image–caption pairs (stage-0 CLIP and UNet data), overriding the scaled count" };
        var questions = new Option<int?>("--questions-per-image") { Description = "open questions per instruction image, besides its benchmark-style yes/no questions (default: the world's)" };
        var yesNo = new Option<string?>("--yes-no")
        {
            Description = "how instruction items ask the benchmarks' yes/no questions: pairs (one yes, one no per image, among the open questions; " +
                          "the default), first (every answer its own coin, before the open questions) or mixed (drawn among the open kinds)",
        };
        var make = new Command("make", "Write the procedural world") { outDir, seed, imageSize, scale, vqaImages, captionPairs, questions, yesNo };
        make.SetAction(parse =>
        {
            double s = parse.GetValue(scale);
            if (!(s > 0) || double.IsInfinity(s)) throw new DeemConfigException("--scale", "scale", $"must be a positive number, found {s}");
            var counts = new WorldCounts().Scaled(s);
            if (parse.GetValue(vqaImages) is int v) counts = counts with { VqaImages = v };
            if (parse.GetValue(captionPairs) is int p) counts = counts with { CaptionPairs = p };
            var options = new WorldOptions
            {
                Seed = parse.GetValue(seed),
                ImageSize = parse.GetValue(imageSize),
                Counts = counts,
                TestImagesInDistribution = (int)Math.Round(new WorldOptions().TestImagesInDistribution * s, MidpointRounding.AwayFromZero),
            };
            if (parse.GetValue(questions) is int q) options = options with { QuestionsPerImage = q };
            if (parse.GetValue(yesNo) is string mix) options = options with { YesNo = ParseYesNo(mix) };
            options.Validate("deem world make");
            string dir = parse.GetValue(outDir)!;
            var clock = Stopwatch.StartNew();
            var manifest = WorldWriter.Make(dir, options);
            var table = new Table().AddColumn("part").AddColumn(new TableColumn("items").RightAligned());
            foreach (var (part, count) in manifest.Counts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                table.AddRow(Markup.Escape(part), count.ToString("N0"));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"wrote {manifest.Files.Count:N0} files ({manifest.Files.Sum(f => f.Bytes) / 1e6:F1} MB) to {Markup.Escape(dir)} in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return new Command("world", "The procedural world data set") { make };
    }

    /// <summary>The <c>--yes-no</c> value as a <see cref="YesNoMix"/>; anything else is an error naming the option.</summary>
    public static YesNoMix ParseYesNo(string value) => value switch
    {
        "mixed" => YesNoMix.Mixed,
        "pairs" => YesNoMix.Pairs,
        "first" => YesNoMix.First,
        _ => throw new DeemConfigException("--yes-no", "yes-no", $"must be pairs, first or mixed, found '{value}'"),
    };
}
