using System.CommandLine;
using System.Globalization;
using Deem.Benchmarks;
using Deem.World.Benchmarks;
using Deem.World.Experiments;
using Deem.Data.Pipeline;
using Deem.Inference;
using Deem.Model;
using Deem.Training;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem eval build` writes the world's RobustVQA / POPE / MMVP in their real layouts; `deem eval run`
/// scores a model folder on RobustVQA, POPE and MMVP in those layouts (the world's or the real
/// ImageNet-A/R/V2, COCO-POPE and MMVP files), resumable, predictions JSONL + scores JSON.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var world = new Option<string>("--world") { Required = true, Description = "world folder" };
        var stage0 = new Option<string>("--stage0") { Required = true, Description = "stage-0 folder (its CLIP mines RobustVQA's negatives)" };
        var benchOut = new Option<string>("--out") { Required = true, Description = "benchmark folder to write" };
        var popeImages = new Option<int>("--pope-images") { Description = "held-out images of POPE, 6 questions each per split (POPE's own: 500)", DefaultValueFactory = _ => new WorldPopeOptions().Images };
        var mmvpPairs = new Option<int>("--mmvp-pairs") { Description = "MMVP pairs, mined as CLIP-blind (MMVP's own: 150)", DefaultValueFactory = _ => new WorldMmvpOptions().Pairs };
        var build = new Command("build", "Write the world's RobustVQA, POPE and MMVP in the real layouts") { world, stage0, benchOut, popeImages, mmvpPairs };
        build.SetAction(parse =>
        {
            var p = CsrExperiment.BuildBenchmarks(parse.GetValue(world)!, parse.GetValue(stage0)!, parse.GetValue(benchOut)!,
                parse.GetValue(popeImages), parse.GetValue(mmvpPairs), m => AnsiConsole.MarkupLine(Markup.Escape(m)));
            AnsiConsole.MarkupLine($"RobustVQA {Markup.Escape(p.RobustVqaJson!)} (images under {Markup.Escape(p.RobustVqaImageRoot!)})");
            AnsiConsole.MarkupLine($"POPE {Markup.Escape(p.PopeDir!)}, MMVP {Markup.Escape(p.MmvpDir!)}");
            return 0;
        });

        var model = new Option<string>("--model") { Required = true, Description = "DEEM model folder" };
        var bench = new Option<string?>("--bench") { Description = "a folder written by `deem eval build` (sets the three below)" };
        var robustWorld = new Option<string?>("--world") { Description = "world folder (image root of the world RobustVQA) with --bench" };
        var robust = new Option<string?>("--robustvqa") { Description = "robustvqa_test.json" };
        var robustRoot = new Option<string?>("--robustvqa-root") { Description = "folder its file_names are relative to" };
        var pope = new Option<string?>("--pope") { Description = "folder with coco_pope_{random,popular,adversarial}.json" };
        var popeImagesDir = new Option<string?>("--pope-images") { Description = "flat image folder (COCO val2014)" };
        var mmvp = new Option<string?>("--mmvp") { Description = "folder with Questions.csv and MMVP Images/" };
        var outDir = new Option<string>("--out") { Required = true, Description = "predictions and scores folder (rerun to resume)" };
        var beams = new Option<bool>("--beams") { Description = "the reference's decoding (3 beams, 10 tokens) instead of greedy 3 tokens" };
        var threads = ThreadsOption.Create();
        var run = new Command("run", "Score a model on RobustVQA, POPE and MMVP") { model, bench, robustWorld, robust, robustRoot, pope, popeImagesDir, mmvp, outDir, beams, threads };
        var placement = PlacementOptions.ForInference(run);
        run.SetAction(parse =>
        {
            ThreadsOption.Apply(parse, threads);
            var where = placement.Read(parse);                           // a device this build lacks is refused first
            var paths = new BenchmarkPaths(parse.GetValue(robust), parse.GetValue(robustRoot), parse.GetValue(pope), parse.GetValue(popeImagesDir), parse.GetValue(mmvp));
            if (parse.GetValue(bench) is { } b)
            {
                foreach (var given in new Option[] { robust, robustRoot, pope, popeImagesDir, mmvp })
                    if (parse.GetResult(given) is { Implicit: false })
                        throw new DeemException($"{given.Name} cannot be combined with --bench, which sets the benchmark files itself");
                var w = parse.GetValue(robustWorld) ?? throw new DeemConfigException("--bench", "world", "--bench needs --world (the RobustVQA images live in the world)");
                paths = new BenchmarkPaths(Path.Combine(b, "robustvqa", WorldRobustVqa.FileName), WorldRobustVqa.RobustRoot(w),
                    Path.Combine(b, "pope"), Path.Combine(b, "pope", WorldPope.ImageFolder), Path.Combine(b, "mmvp"));
            }
            else if (parse.GetResult(robustWorld) is { Implicit: false })
                throw new DeemException("--world cannot be used without --bench: it is the image root of a --bench folder's RobustVQA (else --robustvqa-root)");
            BenchmarkSuite.Check(paths);
            using var pipeline = DeemPipeline.Load(parse.GetValue(model)!, options: Deem.Model.LoadOptions.TextOnly(where));
            var vqa = new DeemVqaModel(pipeline, parse.GetValue(beams) ? GenerationPresets.Vqa : GenerationOptions.Greedy(3));
            var result = BenchmarkSuite.Run(vqa, paths, parse.GetValue(outDir)!, new EvalOptions(), Path.GetFileName(parse.GetValue(model)!.TrimEnd('/')));
            Console.WriteLine(result.ToMarkdown(Path.GetFileName(parse.GetValue(model)!.TrimEnd('/'))));
            if (parse.GetValue(bench) is not null)      // a world bench: in-distribution vs shifted, MMVP by what CLIP's captions named
                Console.WriteLine(WorldBreakdown.Write(result, paths, parse.GetValue(outDir)!));
            return 0;
        });
        return new Command("eval", "Build and run the RobustVQA, POPE and MMVP benchmarks; measure image reliance") { build, run, ImageUse(), GradBalance(), Probe(), EvalOfficialCommands.VqaV2(), EvalOfficialCommands.Captions() };
    }

    /// <summary>
    /// `deem eval image-use --model DIR --world W`: whether the model's text depends on its images
    /// (NTP with its own vs another sample's image) and how much of the images' variation survives the
    /// encoder and the rows that enter the LLM (<see cref="ImageReliance"/>).
    /// </summary>
    static Command ImageUse()
    {
        var model = new Option<string>("--model") { Required = true, Description = "DEEM model folder" };
        var world = new Option<string>("--world") { Required = true, Description = "world folder whose stage data is scored" };
        var stage = new Option<int>("--stage") { Description = "whose data: 1 captions/documents, 2 instruction SFT, 3 region SFT", DefaultValueFactory = _ => 2 };
        var batches = new Option<int>("--batches") { Description = "fixed batches scored", DefaultValueFactory = _ => 8 };
        var threads = ThreadsOption.Create();
        var cmd = new Command("image-use", "Does the text depend on the image? NTP with own vs shuffled images, the across-image spread, and CSR with own vs another image's code") { model, world, stage, batches, threads };
        cmd.SetAction(parse =>
        {
            ThreadsOption.Apply(parse, threads);
            var (m, tokenizer) = DeemCheckpoint.Load(parse.GetValue(model)!);
            using (m)
            {
                // The tiny recipe's batch shape at the model's own image resolutions.
                var config = TrainingSetup.StageConfigFor("tiny", parse.GetValue(stage)) with
                {
                    EvalBatches = parse.GetValue(batches),
                    EncoderResolution = m.Config.EncoderResolution, DecoderResolution = m.Config.DecoderResolution,
                };
                using var set = TrainingSetup.OpenEvalSet(config, DataPaths.FromWorld(parse.GetValue(world)!), tokenizer, m.Config.ImageTokens, parse.GetValue(world)!);
                var r = ImageReliance.Measure(m, set, config);
                var table = new Table().AddColumns("measure", "value");
                table.AddRow("NTP, own images", r.Ntp.ToString("F4", CultureInfo.InvariantCulture));
                table.AddRow("NTP, another sample's image", r.NtpShuffled.ToString("F4", CultureInfo.InvariantCulture));
                table.AddRow("[bold]image gap (nats)[/]", r.Gap.ToString("F4", CultureInfo.InvariantCulture));
                table.AddRow("across-image spread, encoder tokens", r.EncoderSpread.ToString("P1", CultureInfo.InvariantCulture));
                table.AddRow("across-image spread, rows into the LLM", r.ImageRowSpread.ToString("P1", CultureInfo.InvariantCulture));
                table.AddRow("images", r.Images.ToString(CultureInfo.InvariantCulture));
                if (r.YesNo is var (acc, yesRatio, answers))
                {
                    table.AddRow("yes/no answers right (teacher-forced)", acc.ToString("P1", CultureInfo.InvariantCulture));
                    table.AddRow("yes/no answers said \"yes\"", yesRatio.ToString("P1", CultureInfo.InvariantCulture));
                    table.AddRow("yes/no answers scored", answers.ToString(CultureInfo.InvariantCulture));
                }
                if (r.Csr is double csr && r.CsrShuffled is double csrShuffled)
                {
                    table.AddRow("CSR, each image's own code", csr.ToString("F5", CultureInfo.InvariantCulture));
                    table.AddRow("CSR, another image's code", csrShuffled.ToString("F5", CultureInfo.InvariantCulture));
                    table.AddRow("[bold]CSR condition gap (relative)[/]", r.CsrGap is double cg ? cg.ToString("P2", CultureInfo.InvariantCulture) : "–");
                }
                AnsiConsole.Write(table);
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// `deem eval grad-balance --model DIR --world W --stage N`: how large a gradient each λ-weighted loss term
    /// sends into each part of the model in that stage (<see cref="GradientBalance"/>), the cosine between NTP's
    /// and CSR's where both reach, and the factor clipping would apply — whether CSR drowns out NTP in the
    /// perceiver and adapters the LLM reads.
    /// </summary>
    static Command GradBalance()
    {
        var model = new Option<string>("--model") { Required = true, Description = "DEEM model folder" };
        var world = new Option<string>("--world") { Required = true, Description = "world folder whose stage data is used" };
        var stage = new Option<int>("--stage") { Description = "the stage whose recipe (weights, frozen parts, data) applies: 1 or 2", DefaultValueFactory = _ => 2 };
        var noCsr = new Option<bool>("--no-csr") { Description = "the baseline's recipe of the stage (DEEM*: stage 1 with the encoder frozen and the UNet trained; λ_CSR = 0)" };
        var batches = new Option<int>("--batches") { Description = "fixed batches averaged", DefaultValueFactory = _ => 4 };
        var threads = ThreadsOption.Create();
        var cmd = new Command("grad-balance", "Per part of the model, the gradient norm each weighted loss term (NTP, NIP, CSR) sends there in a stage")
            { model, world, stage, noCsr, batches, threads };
        cmd.SetAction(parse =>
        {
            ThreadsOption.Apply(parse, threads);
            int n = parse.GetValue(stage);
            if (n is not (1 or 2)) throw new DeemConfigException("--stage", "stage", $"must be 1 or 2 (stage 3 has no diffusion model), found {n}");
            if (parse.GetValue(batches) <= 0) throw new DeemConfigException("--batches", "batches", $"must be > 0, found {parse.GetValue(batches)}");
            string dir = parse.GetValue(model)!;
            if (!DeemCheckpoint.Exists(dir))
                throw new DeemFormatException(dir, $"--model needs a DEEM model folder ({DeemCheckpoint.ConfigFile} + {DeemCheckpoint.WeightsFile})");
            var recipe = TrainingSetup.StageConfigFor("tiny", n, parse.GetValue(noCsr)) with { EvalBatches = parse.GetValue(batches) };
            var (m, tokenizer, _) = TrainingSetup.BuildModel("tiny", recipe, dir, seed: 0, tokenizer: null);
            using (m)
            {
                // The tiny recipe's batch shape at the model's own image resolutions.
                var config = recipe with { EncoderResolution = m.Config.EncoderResolution, DecoderResolution = m.Config.DecoderResolution };
                using var set = TrainingSetup.OpenEvalSet(config, DataPaths.FromWorld(parse.GetValue(world)!), tokenizer, m.Config.ImageTokens, parse.GetValue(world)!);
                var r = GradientBalance.Measure(m, set, config);
                string F(double x) => x.ToString("E2", CultureInfo.InvariantCulture);
                var table = new Table().AddColumns("part", "trainable", "‖∇ λ·NTP‖", "‖∇ λ·NIP‖", "‖∇ λ·CSR‖", "‖∇ total‖", "cos(NTP, CSR)");
                foreach (var row in r.Groups.Append(r.All))
                    table.AddRow(Markup.Escape(row.Group), row.Parameters.ToString("N0", CultureInfo.InvariantCulture), F(row.Ntp), F(row.Nip), F(row.Csr), F(row.Total),
                        row.CosNtpCsr is double c ? c.ToString("F3", CultureInfo.InvariantCulture) : "–");
                AnsiConsole.Write(table);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{config.Name}: λ NTP {r.Weights.Ntp}, NIP {r.Weights.Nip}, CSR {r.Weights.Csr}; {r.Batches} batches; max_grad_norm {r.MaxGradNorm} → clip factor {r.ClipFactor:F3}"));
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// `deem eval probe --model DIR --world W [--bench B]`: what the frozen image features hold, per question
    /// family (<see cref="Deem.Diagnostics.EncoderProbe"/>): probes trained on the first images of the world's
    /// instruction file, scored on its last ones and, for presence, on the benchmark folder's POPE — the
    /// ceiling of what the LLM can read from the same features.
    /// </summary>
    static Command Probe()
    {
        var model = new Option<string>("--model") { Required = true, Description = "DEEM model folder" };
        var world = new Option<string>("--world") { Required = true, Description = "world folder whose instruction file trains and tests the probes (best one no model was trained on: deem world make --seed 1)" };
        var bench = new Option<string?>("--bench") { Description = "a folder written by `deem eval build`: also score the presence probes on its POPE" };
        var trainImages = new Option<int>("--train-images") { Description = "first instruction images, whose questions train the probes", DefaultValueFactory = _ => 3000 };
        var testImages = new Option<int>("--test-images") { Description = "last instruction images, whose questions score them", DefaultValueFactory = _ => 1000 };
        var steps = new Option<int>("--steps") { Description = "full-batch AdamW steps per probe", DefaultValueFactory = _ => 600 };
        var seed = new Option<int>("--seed") { Description = "seed of the probes' initial weights", DefaultValueFactory = _ => 0 };
        var hidden = new Option<string>("--hidden") { Description = "probe heads: comma-separated hidden widths, 0 = linear", DefaultValueFactory = _ => "0,256" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("probe", "What the frozen image features hold: linear and one-layer probes per question family (the LLM's ceiling)")
            { model, world, bench, trainImages, testImages, steps, seed, hidden, threads };
        cmd.SetAction(parse =>
        {
            ThreadsOption.Apply(parse, threads);
            var widths = parse.GetValue(hidden)!.Split(',').Select(x => int.TryParse(x, out int w) ? w
                : throw new DeemConfigException("--hidden", "hidden", $"must be comma-separated integer widths, found '{parse.GetValue(hidden)}'")).ToList();
            var options = new Deem.Diagnostics.EncoderProbeOptions(parse.GetValue(trainImages), parse.GetValue(testImages), parse.GetValue(steps),
                Hidden: widths, Seed: parse.GetValue(seed));
            options.Validate();
            string? popeDir = parse.GetValue(bench) is { } b ? Path.Combine(b, "pope") : null;
            if (popeDir is not null && !Directory.Exists(popeDir)) throw new DeemFormatException(popeDir, "not found: --bench must be a folder written by `deem eval build`");
            var paths = DataPaths.FromWorld(parse.GetValue(world)!);
            var items = Deem.Data.Formats.Llava.Read(paths.LlavaJson!, paths.LlavaImages!, new Deem.Data.Formats.SkipCounter(strict: true));
            options.Validate(items.Count, paths.LlavaJson!);
            var (m, _) = DeemCheckpoint.Load(parse.GetValue(model)!);
            using (m)
            {
                var r = Deem.Diagnostics.EncoderProbe.Run(m, items, options, m.Config.EncoderResolution,
                    popeDir, popeDir is null ? null : Path.Combine(popeDir, WorldPope.ImageFolder));
                var families = new Table().AddColumns("family", "train questions", "held-out questions", "blind (each object's commonest answer)");
                foreach (var f in r.Families)
                    families.AddRow(f.Family, f.TrainQuestions.ToString(CultureInfo.InvariantCulture), f.TestQuestions.ToString(CultureInfo.InvariantCulture), f.BlindAccuracy.ToString("P1", CultureInfo.InvariantCulture));
                AnsiConsole.Write(families);
                var splits = r.PopeQuestions.Keys.ToList();
                var table = new Table().AddColumns("family", "features", "dim", "probe", "train", "held-out");
                foreach (var s in splits) table.AddColumn($"POPE {s} ({r.PopeQuestions[s]})");
                foreach (var row in r.Rows)
                    table.AddRow([row.Family, Markup.Escape(row.Features), row.Dim.ToString(CultureInfo.InvariantCulture), row.Hidden == 0 ? "linear" : $"MLP {row.Hidden}",
                        row.TrainAccuracy.ToString("P1", CultureInfo.InvariantCulture), row.TestAccuracy.ToString("P1", CultureInfo.InvariantCulture),
                        .. splits.Select(s => row.Pope.TryGetValue(s, out double a) ? a.ToString("P1", CultureInfo.InvariantCulture) : "")]);
                AnsiConsole.Write(table);
                int overfit = r.Rows.Count(x => x.Overfits);
                if (overfit > 0)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{overfit} of {r.Rows.Count} probes answer their training questions over {100 * Deem.Diagnostics.EncoderProbeRow.OverfitGap:F0} points better than the held-out ones: their held-out accuracy is a lower bound of what the features hold (more --train-images raise it)"));
            }
            return 0;
        });
        return cmd;
    }
}
