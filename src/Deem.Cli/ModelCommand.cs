using Deem.World;
using System.CommandLine;
using Deem.Config;
using Deem.Model;
using Deem.Training;
using Spectre.Console;
using TorchSharp;

namespace Deem.Cli;

/// <summary>
/// `deem model`: builds a preset and prints its parameters per module and the trainable totals
/// under each freeze schedule (reference §1.11); `--check` runs one forward/backward of the full
/// loss on a random interleaved batch and lists which parameter groups received gradient; `--save DIR`
/// writes a seeded random-weight model folder.
/// </summary>
public static class ModelCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = string.Join(" | ", DeemConfig.PresetNames), DefaultValueFactory = _ => "tiny" };
        var check = new Option<bool>("--check") { Description = "one forward/backward of NTP + λ·NIP + λ·CSR on a random batch" };
        var seed = new Option<int>("--seed") { Description = "seed of the random batch and weights", DefaultValueFactory = _ => 0 };
        var save = new Option<string?>("--save") { Description = "write a random-weight model folder (tiny presets) to this folder" };
        var ranks = new Option<int[]>("--ranks") { Description = "also the per-rank memory of data-parallel training at these world sizes, e.g. --ranks 8 32", AllowMultipleArgumentsPerToken = true };
        var memory = new Option<bool>("--memory") { Description = "also the memory of each training stage in fp32, bf16 and fp16: weights, gradients, AdamW state, activations" };
        var stepFlops = new Option<bool>("--step-flops") { Description = "also the analytic training FLOPs of a stage-1 micro-batch with and without CSR, at 1, 2, 4 and 8 images per sequence" };
        var cmd = new Command("model", "Parameter table of a preset; --check runs the full loss once; --save writes a random-weight model folder") { preset, check, seed, save, ranks, memory, stepFlops };
        var placement = PlacementOptions.ForTraining(cmd);
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(save) is string folder)
            {
                var saved = RandomModelFolder.Write(folder, parse.GetValue(preset)!, (ulong)parse.GetValue(seed), WorldTokenizer.Default);
                parse.InvocationConfiguration.Output.WriteLine($"wrote {folder} ({saved.Name}, random weights, seed {parse.GetValue(seed)})");
                return 0;
            }
            var config = WorldPresets.Preset(parse.GetValue(preset)!);
            if (parse.GetValue(stepFlops) && (config.IsLlava || !config.BuildDiffusion))
                throw new DeemConfigException("--preset", "preset", $"--step-flops needs a DEEM preset with its diffusion model, found '{config.Name}'");
            if (parse.GetValue(check)) return Check(config, parse.GetValue(seed), placement.Read(parse));
            PrintTable(config, parse.GetValue(ranks) ?? [], parse.GetValue(memory), parse.GetValue(stepFlops));
            return 0;
        });
        return cmd;
    }

    static void PrintTable(DeemConfig config, int[] ranks, bool memory = false, bool stepFlops = false)
    {
        // Paper scale is built on the meta device: shapes only, no memory.
        var previous = torch.get_default_device();
        DeemModel model;
        torch.set_default_device(config.Name.StartsWith("tiny") ? torch.CPU : torch.META);
        try { model = new DeemModel(config); }
        finally { torch.set_default_device(previous); }

        var schedules = new (string Name, FreezeSchedule Schedule)[]
        {
            ("DEEM stage 1", FreezeSchedule.DeemStage1),
            ("baseline stage 1", FreezeSchedule.BaselineStage1),
            ("stages 2-3", FreezeSchedule.Sft),
        };
        var perSchedule = schedules.Select(s =>
        {
            s.Schedule.Apply(model);
            return ParameterTable.Build(model, ParameterTable.DeemGroups);
        }).ToList();

        var table = new Table().Title($"DEEM [bold]{config.Name}[/] parameters").AddColumn("module").AddColumn(new TableColumn("params").RightAligned());
        foreach (var s in schedules) table.AddColumn(new TableColumn($"trainable: {s.Name}").RightAligned());
        for (int r = 0; r < perSchedule[0].Count; r++)
        {
            var row = perSchedule[0][r];
            if (row.Total == 0) continue;
            table.AddRow(new[] { Markup.Escape(row.Group), Fmt(row.Total) }.Concat(perSchedule.Select(p => Fmt(p[r].Trainable))).ToArray());
        }
        table.AddRow(new[] { "[bold]total[/]", Fmt(perSchedule[0].Sum(r => r.Total)) }
            .Concat(perSchedule.Select(p => $"[bold]{Fmt(p.Sum(r => r.Trainable))}[/]")).ToArray());
        AnsiConsole.Write(table);
        foreach (var (s, rows) in schedules.Zip(perSchedule))
            AnsiConsole.MarkupLine($"trainable under {s.Name}: [bold]{rows.Sum(r => r.Trainable) / 1e6:F1} M[/]");
        if (config.Name == "paper-7b")
            AnsiConsole.MarkupLine("paper (Table 3 / §2.3): DEEM 494.9 M, baseline 1271.0 M");
        if (memory) PrintStageMemory(config, model);
        if (stepFlops) PrintCsrFlops(config, model);
        if (ranks.Length > 0)
            PrintMemory(Deem.Distributed.MemoryPlan.Rows(perSchedule[0].Sum(r => r.Total),
                schedules.Zip(perSchedule).Select(x => (x.First.Name, x.Second.Sum(r => r.Trainable))).ToList(), ranks));
    }

    static void PrintMemory(List<Deem.Distributed.MemoryRow> rows)
    {
        var table = new Table().Title("model-state memory per rank, GiB (activations not counted)");
        foreach (var c in new[] { "stage", "precision", "ranks", "ZeRO-1", "weights", "grads", "AdamW state", "step buffers", "total" })
            table.AddColumn(new TableColumn(c).RightAligned());
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.Stage), r.Precision, $"{r.Ranks}", r.Zero1 ? "on" : "off", $"{r.Weights:F1}", $"{r.Gradients:F1}",
                $"{r.Optimizer:F1}", $"{r.StepBuffers:F1}", $"[bold]{r.Total:F1}[/]");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("the authors (reference §3): 32 × A100-80GB, fp16 with DeepSpeed ZeRO-1 and gradient checkpointing; 80 GB per GPU is the budget");
    }

    static void PrintCsrFlops(DeemConfig config, DeemModel model)
    {
        var diffusion = model.Diffusion ?? throw new InvalidOperationException($"{config.Name} was built without its diffusion model");
        string preset = StagePreset(config);
        var stage = StageConfig.Load(preset, "stage1");
        var rows = Diagnostics.StepFlops.CsrCost(config, diffusion, stage.BatchSize, stage.MaxLength, stage.EncoderResolution,
            stage.DecoderResolution, [1, 2, 4, 8]);
        string[] modules = [Diagnostics.StepProfiler.Llm, Diagnostics.StepProfiler.Mmfs, Diagnostics.StepProfiler.UNet];
        var table = new Table().Title($"stage-1 training FLOPs of one micro-batch of {config.Name}: {stage.BatchSize} × {stage.MaxLength} tokens, " +
            $"images {stage.EncoderResolution} px in, {stage.DecoderResolution} px denoised (configs/stages/{preset}/stage1)");
        foreach (string c in (string[])["images / row", "with CSR (GFLOP)", "without (GFLOP)", "ratio", .. modules.Select(m => $"{m} with / without")])
            table.AddColumn(new TableColumn(c).RightAligned());
        static string G(double flops) => (flops / 1e9).ToString(flops < 1e11 ? "N2" : "N0");
        foreach (var r in rows)
            table.AddRow([$"{r.ImagesPerRow}", G(r.WithCsr.Values.Sum()), G(r.WithoutCsr.Values.Sum()), $"[bold]{r.Ratio:F3}×[/]",
                .. modules.Select(m => $"{G(r.WithCsr.GetValueOrDefault(m))} / {G(r.WithoutCsr.GetValueOrDefault(m))}")]);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("forward + backward = 3 × forward on the gradient path, 1 × for the VAE (Diagnostics/StepFlops); one document per row, " +
            "NIP over every image but the first; paper Table 3, stage 1: 9.25 / 8.11 s per step = 1.14×.");
    }

    static void PrintStageMemory(DeemConfig config, DeemModel model)
    {
        string preset = StagePreset(config);
        var stages = new[] { "stage1", "stage1-baseline", "stage2", "stage3" }.Select(name =>
        {
            var stage = StageConfig.Load(preset, name);
            FreezeSchedule.Of(stage).Apply(model);
            return new Deem.Distributed.StageShape(stage.Name, ParameterTable.TrainableCount(model), stage.BatchSize, stage.MaxLength,
                stage.GradientCheckpointing.Llm);
        }).ToList();
        var llm = new Deem.Distributed.LlmShape(config.Llm.NumHiddenLayers, config.Llm.HiddenSize, config.Llm.NumAttentionHeads);
        var rows = Deem.Distributed.StageMemoryPlan.Rows(ParameterTable.Total(model), stages, llm);
        var table = new Table().Title($"training memory of {config.Name} on one device, GiB (configs/stages/{preset})");
        foreach (var c in new[] { "stage", "batch × tokens", "recompute", "dtype", "weights", "grads", "AdamW m, v", "LLM activations", "total" })
            table.AddColumn(new TableColumn(c).RightAligned());
        foreach (var r in rows)
        {
            var s = stages.First(x => x.Stage == r.Stage);
            table.AddRow(Markup.Escape(r.Stage), $"{s.Batch} × {s.Tokens}", s.Recompute ? "LLM" : "no", r.DType, $"{r.Weights:F2}", $"{r.Gradients:F2}", $"{r.Optimizer:F2}",
                $"{r.Activations:F2}", $"[bold]{r.Total:F2}[/]");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("weights: frozen parameters in the dtype, trainable ones in fp32 (they are the master weights); grads fp32; AdamW m, v fp32 (8 B each).");
        AnsiConsole.MarkupLine("LLM activations (Korthikanti et al. 2022): layers × s·b·h·(34 + 5·a·s/h) × bytes/2, or with the stage's recompute (gradient_checkpointing.llm) layers × s·b·h × bytes + one layer's; encoder, Q-Formers and UNet not counted.");
    }

    static string Fmt(long n) => n.ToString("N0");

    /// <summary>The configs/stages folder whose recipes train <paramref name="config"/>: tiny for the tiny presets, else paper-7b.</summary>
    static string StagePreset(DeemConfig config) => config.Name.StartsWith("tiny", StringComparison.Ordinal) ? "tiny" : "paper-7b";

    static int Check(DeemConfig config, int seed, Placement placement)
    {
        if (!config.Name.StartsWith("tiny"))
            throw new DeemConfigException("--preset", "preset", "--check runs on CPU and needs the tiny preset");
        var gen = new torch.Generator((ulong)seed);
        torch.manual_seed(seed);
        using var model = new DeemModel(config, gen);
        FreezeSchedule.DeemStage1.Apply(model);
        PlacementPolicy.ApplyForTraining(model, placement);
        model.train();
        var host = SyntheticBatch.Interleaved(config, gen);
        var device = model.Device;
        var batch = host with
        {
            Ids = host.Ids.to(device), AttentionMask = host.AttentionMask.to(device), ImagesEnc = host.ImagesEnc.to(device),
            ImagesDec = host.ImagesDec?.to(device),
        };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        var output = model.forward(batch);
        output.Loss.backward();
        sw.Stop();
        AnsiConsole.WriteLine($"batch: ids [{string.Join(", ", batch.Ids.shape)}], images [{string.Join(", ", batch.ImagesEnc.shape)}]; placement {placement}");
        AnsiConsole.MarkupLine($"NTP {output.Ntp.item<float>():F4}   NIP {output.Nip.item<float>():F4}   CSR {output.Csr.item<float>():F4}   " +
                               $"total {output.Loss.item<float>():F4}   (forward+backward {sw.Elapsed.TotalSeconds:F2} s)");

        var table = new Table().AddColumn("parameter group").AddColumn("trainable").AddColumn("received gradient");
        var groups = ParameterTable.DeemGroups;
        for (int gi = 0; gi < groups.Count; gi++)
        {
            var g = groups[gi];
            var ps = model.named_parameters().Where(p => ParameterTable.GroupIndex(p.name, groups) == gi).ToList();
            if (ps.Count == 0) continue;
            int trainable = ps.Count(p => p.parameter.requires_grad);
            int withGrad = ps.Count(p => p.parameter.grad is not null && p.parameter.grad.abs().sum().item<float>() > 0);
            table.AddRow(Markup.Escape(g.Name), $"{trainable}/{ps.Count}", withGrad > 0 ? $"[green]yes[/] ({withGrad}/{ps.Count})" : "no");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]At initialisation the MMFS gates (LLM) and MMFSNet's output convs are zero, so only the gates and zero convs get gradient there; the maps read only through them (adapters c4, c5, c2) get none until they open.[/]");
        return 0;
    }
}
