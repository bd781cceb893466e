using Deem.World;
using System.Globalization;
using Deem.Text;
using Deem.Training;
using Deem.World.Pretraining;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem train --stage 0`: pretrains the four tiny components (CLIP, LLaMA, VAE, UNet) on the world,
/// writes them in their real layouts, then assembles them into a DEEM model folder in the same place
/// (the <c>--init</c> of stage 1). Each step goes to <c>stage0_metrics.jsonl</c>; a bar per component.
/// </summary>
public static class Stage0Runner
{
    public static Stage0Summary Run(string world, string outDir, Stage0Options options, bool plain)
    {
        Directory.CreateDirectory(outDir);
        var tokenizer = WorldTokenizer.Default;
        using var metrics = new StreamWriter(Path.Combine(outDir, "stage0_metrics.jsonl"), append: false);
        void Log(Stage0Step s) => metrics.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"component\":\"{s.Component}\",\"step\":{s.Step},\"loss\":{s.Loss:R},\"lr\":{s.LearningRate:R},\"grad_norm\":{s.GradNorm:R},\"seconds\":{s.Seconds:R}}}"));

        Stage0Summary summary;
        if (plain)
        {
            summary = Stage0.Run(world, outDir, options, new Stage0Callbacks(
                s => { if (s.Step == s.TotalSteps || s.Step % 50 == 0) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stage0 {s.Component} step {s.Step}/{s.TotalSteps} loss {s.Loss:F4} {s.ItPerSec:F2} it/s")); },
                Log));
        }
        else
        {
            summary = TorchProgress.Create()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var tasks = new Dictionary<string, ProgressTask>();
                    return Stage0.Run(world, outDir, options, new Stage0Callbacks(s =>
                    {
                        if (!tasks.TryGetValue(s.Component, out var t))
                            tasks[s.Component] = t = ctx.AddTask(s.Component, maxValue: s.TotalSteps);
                        t.Value = s.Step;
                        t.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{s.Component,-5} loss {s.Loss:F4} {s.ItPerSec:F1} it/s"));
                        ctx.Refresh();
                    }, Log));
                });
        }
        metrics.Flush();
        Stage0Model.Assemble(summary, tokenizer, options.Seed);

        var table = new Table().AddColumn("component").AddColumn("steps").AddColumn("first loss (mean of first n)").AddColumn("last loss (mean of last n)").AddColumn("seconds");
        foreach (var c in summary.Components)
        {
            int n = Math.Clamp(c.Steps / 3, 1, 10);
            table.AddRow(c.Component, c.Steps.ToString(), c.HeadMean(n).ToString("F4", CultureInfo.InvariantCulture),
                c.Losses.TakeLast(n).DefaultIfEmpty(double.NaN).Average().ToString("F4", CultureInfo.InvariantCulture),
                c.Seconds.ToString("F1", CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"components and the assembled DEEM model folder: [bold]{Markup.Escape(outDir)}[/]");
        return summary;
    }
}
