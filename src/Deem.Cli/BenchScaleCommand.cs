using System.CommandLine;
using Deem.Inference;
using Deem.Model;
using Deem.Text;
using Deem.World;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem bench scale`: paper scale on this machine. Writes random weights of the preset in the authors' layout
/// (sharded safetensors, tensor by tensor), imports them, loads the model text-only in the dtype (meta build,
/// memory-mapped weights) and answers one question about a generated picture as `deem ask` does; prints peak
/// RSS, prefill and decode tokens/s and decode against the memory roofline. A benchmark, not a test: with
/// paper-7b in bf16 it needs ~33 GB of disk under --work while it runs (both folders are deleted at the end).
/// </summary>
public static class BenchScaleCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "model preset", DefaultValueFactory = _ => "paper-7b" };
        var dtype = new Option<string>("--dtype") { Description = "storage dtype of the checkpoint and the model: bf16, fp16, fp32", DefaultValueFactory = _ => "bf16" };
        var work = new Option<string>("--work") { Description = "folder for the checkpoint and the model folder", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "LLaMA tokenizer.model (default: the world tokenizer as a stand-in, which shrinks the vocabulary)" };
        var decode = new Option<int>("--decode-tokens") { Description = "timed decode steps after the first answer token", DefaultValueFactory = _ => 4 };
        var seed = new Option<ulong>("--seed") { Description = "seed of the weights and the picture", DefaultValueFactory = _ => 0UL };
        var keep = new Option<bool>("--keep") { Description = "keep the checkpoint and the model folder" };
        var decodeBatch = new Option<int>("--decode-batch") { Description = "then decode this many copies of the question at once (0: none)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("scale", "Paper scale end to end: random checkpoint, import, text-only load in the dtype, one image question; peak RSS and tokens/s")
            { preset, dtype, work, tokenizer, decode, seed, keep, decodeBatch };
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            string workDir = parse.GetValue(work)!;
            string tokenizerPath, note;
            if (parse.GetValue(tokenizer) is string given)
            {
                tokenizerPath = given;
                note = $"{TokenizerFiles.LoadFile(given).Kind} from {given}";
            }
            else
            {
                tokenizerPath = Path.Combine(workDir, "tokenizer");
                TokenizerFiles.Save(tokenizerPath, WorldTokenizer.Default);
                note = $"stand-in: the world WordPiece tokenizer ({WorldTokenizer.Default.Specials.VocabSize} ids, LLaMA's 32006), so embedding and head are smaller";
            }
            var options = new ScaleBenchmarkOptions(parse.GetValue(preset)!, Placement.ParseDType(parse.GetValue(dtype)!), workDir, tokenizerPath, note,
                parse.GetValue(decode), parse.GetValue(seed), parse.GetValue(keep), parse.GetValue(decodeBatch));
            var r = ScaleBenchmark.Run(options, line => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]"));
            const double GiB = 1L << 30;
            var table = new Table().Title($"DEEM {r.Preset} in {r.DType} on this machine (random weights)").AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
            table.AddRow("tokenizer", Markup.Escape(r.TokenizerNote));
            table.AddRow("checkpoint written (authors' keys)", $"{r.Checkpoint.Tensors} tensors, {r.Checkpoint.Bytes / GiB:F2} GiB, {r.Checkpoint.Files} shards, {r.WriteSeconds:F0} s");
            table.AddRow("imported (deem import)", $"{r.Import.Parameters / 1e9:F2} B parameters, {r.Import.Files} files, {r.ImportSeconds:F0} s");
            table.AddRow("text-only load (meta + mmap)", $"{r.Load.Tensors} tensors, {r.Load.Bytes / GiB:F2} GiB, {r.Load.LeftOnMeta.Count} left on meta, {r.LoadSeconds:F0} s");
            table.AddRow("[bold]peak RSS, whole run (VmHWM)[/]", $"[bold]{r.PeakRssBytes / GiB:F2} GiB[/]");
            table.AddRow("peak RSS, load + answer", $"{r.PeakRssLoadAskBytes / GiB:F2} GiB");
            table.AddRow("prefill", $"{r.PrefillTokens} tokens in {r.PrefillSeconds:F1} s = [bold]{r.PrefillTokensPerSecond:F1} tokens/s[/] (image encode included)");
            table.AddRow("decode", $"{r.DecodeTokens} tokens in {r.DecodeSeconds:F1} s = [bold]{r.DecodeTokensPerSecond:F3} tokens/s[/]");
            table.AddRow("bytes read per decode step", $"{r.WeightBytesPerToken / 1e9:F2} GB weights + {r.CacheBytesPerToken / 1e6:F1} MB KV cache");
            table.AddRow("bandwidth (same run)", $"GEMV fp32 {r.Bandwidth.GemvBytesPerSecond / 1e9:F2} GB/s, copy {r.Bandwidth.CopyBytesPerSecond / 1e9:F2} GB/s (read + write)");
            table.AddRow("decode vs roofline", $"[bold]{r.Roofline.Fraction:P0}[/] of GEMV's {r.GemvRooflineTokensPerSecond:F3} tokens/s, " +
                $"{r.DecodeTokensPerSecond / r.CopyRooflineTokensPerSecond:P0} of copy-read's {r.CopyRooflineTokensPerSecond:F3} tokens/s");
            if (r.Batched is { } b && r.BatchedRoofline is { } br)
                table.AddRow($"decode, batch {b.Batch}", $"{b.Steps} steps in {b.StepSeconds:F1} s = [bold]{b.TokensPerSecond:F3} tokens/s[/], " +
                    $"[bold]{br.Fraction:P0}[/] of GEMV's {br.RooflineTokensPerSecond:F3} tokens/s (prefill of the batch {b.PrefillSeconds:F1} s)");
            table.AddRow("answer (random weights)", Markup.Escape(r.Answer.Length > 60 ? r.Answer[..60] + "…" : r.Answer));
            AnsiConsole.Write(table);
            return 0;
        }));
        return cmd;
    }
}
