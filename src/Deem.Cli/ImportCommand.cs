using System.CommandLine;
using System.Globalization;
using Deem.Model;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem import --out DIR (--checkpoint PATH --tokenizer VICUNA_DIR | --llm DIR --sd DIR --open-clip FILE)`:
/// real checkpoints into a DEEM model folder.
/// </summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "the DEEM model folder to write", Required = true };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "the DEEM / MM-Interleaved checkpoint: pytorch_model.bin, a .bin or safetensors index, a .safetensors file, or their folder" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "the tokenizer: a Vicuna / LLaMA folder, tokenizer.model or tokenizer.json (default: the --llm folder's)" };
        var llm = new Option<string?>("--llm") { Description = "HF Vicuna / LLaMA folder (config.json; its weights when there is no --checkpoint)" };
        var sd = new Option<string?>("--sd") { Description = "diffusers Stable Diffusion 2.1-base folder (unet/vae/scheduler configs; weights when there is no --checkpoint)" };
        var openClip = new Option<string?>("--open-clip") { Description = "open_clip ConvNeXt weights (open_clip_pytorch_model.bin) when there is no --checkpoint" };
        var preset = new Option<string>("--preset") { Description = "config preset when the checkpoint folder has no deem_config.json", DefaultValueFactory = _ => "paper-7b" };
        var dtype = new Option<string>("--dtype") { Description = "fp32, bf16, fp16, or keep the stored dtypes", DefaultValueFactory = _ => "keep" };
        var shardGb = new Option<double>("--shard-gb") { Description = "largest safetensors shard in GiB", DefaultValueFactory = _ => 5.0 };
        var cmd = new Command("import", "Import the authors' DEEM checkpoint or the pretrained component folders into a DEEM model folder")
        { output, checkpoint, tokenizer, llm, sd, openClip, preset, dtype, shardGb };
        cmd.SetAction(parse =>
        {
            var r = CheckpointImport.Run(new ImportOptions
            {
                Out = parse.GetValue(output)!, Checkpoint = parse.GetValue(checkpoint), Tokenizer = parse.GetValue(tokenizer),
                LlmFolder = parse.GetValue(llm), SdFolder = parse.GetValue(sd), OpenClip = parse.GetValue(openClip),
                Preset = parse.GetValue(preset)!, Dtype = parse.GetValue(dtype)!,
                MaxShardBytes = (long)(parse.GetValue(shardGb) * (1L << 30)),
            });
            foreach (var k in r.CheckedExtras) AnsiConsole.MarkupLine($"[grey]checked and left out: {Markup.Escape(k)}[/]");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Out}: {r.Tensors} tensors, {r.Parameters:N0} parameters in {r.Files} file(s), {r.TokenizerKind} tokenizer (from {r.Source})"));
            return 0;
        });
        return cmd;
    }
}
