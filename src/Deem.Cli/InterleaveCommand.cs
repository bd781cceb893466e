using System.CommandLine;
using Deem.Inference;

namespace Deem.Cli;

/// <summary>
/// `deem interleave`: answers a message with interleaved text and images (reference §4.3, the loop of
/// <see cref="InterleavedGenerator"/>): text is printed as it comes; each image the model starts with
/// <c>&lt;soi&gt;</c> is generated, written as PNG into --out, and the text goes on seeing it.
/// </summary>
public static class InterleaveCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "DEEM model folder", Required = true };
        var images = new Option<string[]>("--image") { Description = "image attached to the message (repeatable)" };
        var outDir = new Option<string>("--out") { Description = "folder for the generated images", DefaultValueFactory = _ => "." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "most text tokens over all rounds", DefaultValueFactory = _ => 128 };
        var maxImages = new Option<int>("--max-images") { Description = "most generated images", DefaultValueFactory = _ => 2 };
        var steps = new Option<int>("--steps") { Description = "denoising steps per image", DefaultValueFactory = _ => 50 };
        var scheduler = new Option<string>("--scheduler") { Description = "ddim | ddpm", DefaultValueFactory = _ => "ddim" };
        var seed = new Option<ulong>("--seed") { Description = "seed of text sampling and image latents", DefaultValueFactory = _ => 0UL };
        var message = new Argument<string>("message") { Description = "the user's message" };
        var cmd = new Command("interleave", "Answer with interleaved text and generated images") { model, images, outDir, maxTokens, maxImages, steps, scheduler, seed, message };
        var placement = PlacementOptions.ForInference(cmd);
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var output = parse.InvocationConfiguration.Output;
            int max = parse.GetValue(maxTokens);
            if (max < 1) throw new ArgumentException($"--max-tokens = {max}: must be ≥ 1");
            var preset = GenerationPresets.Interleaved;
            var options = new InterleavedOptions(
                preset with { MaxNewTokens = Math.Min(preset.MaxNewTokens, max), MinNewTokens = Math.Min(preset.MinNewTokens, max), Seed = parse.GetValue(seed) },
                new ImageGenerationOptions(parse.GetValue(steps), parse.GetValue(scheduler)!.ToLowerInvariant(), Seed: parse.GetValue(seed)).Validate(),
                parse.GetValue(maxImages), max);
            var pictures = (parse.GetValue(images) ?? []).Select(ImageInputs.Read).ToList();
            using var pipeline = DeemPipeline.Load(parse.GetValue(model)!, null, placement.Read(parse));
            _ = pipeline.Images;   // fails early for a model without diffusion
            var dir = parse.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            int written = 0;
            var result = InterleavedChat.Answer(pipeline, pictures, parse.GetValue(message)!, options, piece =>
            {
                if (piece is TextPiece t) output.Write(t.Text);
                else if (piece is ImagePiece i)
                {
                    var path = Path.Combine(dir, $"image-{++written}.png");
                    Deem.IO.AtomicFile.WriteAllBytes(path, ImageOutputs.Png(i.Image));
                    output.Write($" [image: {path}] ");
                }
                output.Flush();
            });
            output.WriteLine();
            output.WriteLine($"({result.Pieces.Count(p => p is ImagePiece)} image(s), stopped: {result.Stop})");
            return 0;
        }));
        return cmd;
    }
}
