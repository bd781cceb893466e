using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Deem.World;
using Deem.World.Experiments;
using Deem.Inference;
using Deem.Model;
using Deem.World.Pretraining;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem demo`, the main job: on a fresh machine with no download, makes the built-in world,
/// pretrains the tiny components (stage 0), runs the CSR experiment at a reduced size (baseline vs
/// DEEM, and the LLaVA-style variant without and with CSR) and prints its table; leaves the report,
/// plots, a few generated images and a trained DEEM model folder (for `deem chat`) in one folder.
/// Every phase is resumable: run it again and finished phases are reused.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "output folder", DefaultValueFactory = _ => "deem-demo" };
        var seeds = new Option<string>("--seeds") { Description = "seeds of every arm", DefaultValueFactory = _ => "0,1,2" };
        var stage1 = new Option<int>("--stage1-steps") { DefaultValueFactory = _ => 120 };
        var stage2 = new Option<int>("--stage2-steps") { DefaultValueFactory = _ => 300 };
        var stage0Steps = new Option<int?>("--stage0-steps") { Description = "steps per stage-0 component (default: the stage-0 defaults)" };
        var worldScale = new Option<double>("--world-scale") { Description = "multiplies the world's item counts", DefaultValueFactory = _ => 2.0 };
        var cmd = new Command("demo", "Make the world, pretrain components, run the CSR experiment, print the table")
            { outDir, seeds, stage1, stage2, stage0Steps, worldScale };
        cmd.SetAction(parse =>
        {
            var clock = Stopwatch.StartNew();
            string root = Path.GetFullPath(parse.GetValue(outDir)!);
            Directory.CreateDirectory(root);
            string world = Path.Combine(root, "world"), s0 = Path.Combine(root, "stage0"), exp = Path.Combine(root, "experiment");

            // 1. The built-in world, in the real layouts.
            if (!File.Exists(Path.Combine(world, "manifest.json")))
            {
                AnsiConsole.MarkupLine("[bold]1/4[/] making the world");
                double scale = parse.GetValue(worldScale);
                var d = new WorldCounts();
                int S(int n) => (int)Math.Round(n * scale, MidpointRounding.AwayFromZero);
                WorldWriter.Make(world, new WorldOptions
                {
                    // More questions per instruction image: the SFT stage is where yes/no answering is learned.
                    QuestionsPerImage = 6,
                    Counts = new WorldCounts
                    {
                        Mmc4Docs = S(d.Mmc4Docs), CaptionPairs = S(d.CaptionPairs), VqaImages = S(d.VqaImages),
                        RegionImages = S(d.RegionImages), TestImagesPerSplit = S(d.TestImagesPerSplit),
                    },
                    // Unscaled: the in-distribution split adds RobustVQA questions to every run's evaluation.
                    TestImagesInDistribution = new WorldOptions().TestImagesInDistribution,
                });
            }

            // 2. Stage 0: CLIP, LLaMA, VAE and UNet in their real layouts, assembled into a DEEM folder.
            if (!DeemCheckpoint.Exists(s0))
            {
                AnsiConsole.MarkupLine("[bold]2/4[/] stage 0: pretraining the components");
                var o = new Stage0Options();
                if (parse.GetValue(stage0Steps) is int n) o = o with { ClipSteps = n, LlmSteps = n, VaeSteps = n, UNetSteps = n };
                TrainCommand.PretrainComponents(world, s0, o);
            }

            // 3. The CSR experiment (reduced size).
            AnsiConsole.MarkupLine("[bold]3/4[/] the CSR experiment: baseline vs DEEM, LLaVA-style without and with CSR");
            var seedList = ExperimentCommand.ParseSeeds(parse.GetValue(seeds)!, "--seeds");
            ExperimentCommand.Run(new CsrExperimentOptions
            {
                World = world, Stage0 = s0, OutDir = exp, Seeds = seedList, Arches = ["deem", "llava"],
                Stage1Steps = parse.GetValue(stage1), Stage2Steps = parse.GetValue(stage2), PopeImages = 30, MmvpPairs = 30,
            });

            // 4. The trained DEEM (first seed) as a model folder, and a few generated images.
            AnsiConsole.MarkupLine("[bold]4/4[/] model folder and generated images");
            string trained = Path.Combine(exp, "runs", "DEEM", $"seed{seedList[0]}", "stage2");
            string model = Path.Combine(root, "model");
            Directory.CreateDirectory(model);
            foreach (var f in new[] { DeemCheckpoint.ConfigFile, DeemCheckpoint.WeightsFile, DeemCheckpoint.TokenizerFile })
                File.Copy(Path.Combine(trained, f), Path.Combine(model, f), overwrite: true);
            using (var pipeline = DeemPipeline.Load(model))
            {
                string[] prompts = ["a red heart", "two blue arrows pointing left", "a green ring and a yellow star"];
                for (int i = 0; i < prompts.Length; i++)
                {
                    var image = pipeline.GenerateImage(prompts[i], ImageGenerationOptions.Fast with { Seed = (ulong)i });
                    ImageOutputs.SavePng(image, Path.Combine(root, "images", $"{i}-{prompts[i].Replace(' ', '-')}.png"));
                }
            }
            File.Copy(Path.Combine(exp, "report.md"), Path.Combine(root, "report.md"), overwrite: true);
            File.Copy(Path.Combine(exp, "report.png"), Path.Combine(root, "report.png"), overwrite: true);

            AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"done in {clock.Elapsed.TotalMinutes:F1} min: report {Markup.Escape(Path.Combine(root, "report.md"))}, " +
                $"model folder {Markup.Escape(model)} (deem chat --model {Markup.Escape(model)}), images in {Markup.Escape(Path.Combine(root, "images"))}"));
            return 0;
        });
        return cmd;
    }
}
