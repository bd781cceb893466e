using System.CommandLine;
using Deem.Inference;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem generate`: text to image (paper §2.3 inference; reference §4.2): the prompt goes through the
/// text-to-image template, the LLM's context up to the assistant's <c>&lt;soi&gt;</c> conditions the
/// diffusion decoder, which denoises with classifier-free guidance (DDPM 250 steps and CFG 3.5 by
/// default, DDIM for speed) and writes a PNG. A progress bar follows the denoising steps.
/// </summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "DEEM model folder", Required = true };
        var outPath = new Option<string>("--out") { Description = "PNG file to write", Required = true };
        var steps = new Option<int>("--steps") { Description = "denoising steps", DefaultValueFactory = _ => 250 };
        var scheduler = new Option<string>("--scheduler") { Description = "ddpm | ddim", DefaultValueFactory = _ => "ddpm" };
        var cfg = new Option<double>("--cfg") { Description = "classifier-free guidance scale", DefaultValueFactory = _ => 3.5 };
        var seed = new Option<ulong>("--seed") { Description = "seed of the latents and the sampler noise", DefaultValueFactory = _ => 0UL };
        var prompt = new Argument<string>("prompt") { Description = "what to draw" };
        var cmd = new Command("generate", "Generate an image from a text prompt") { model, outPath, steps, scheduler, cfg, seed, prompt };
        var placement = PlacementOptions.ForInference(cmd);
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var options = new ImageGenerationOptions(parse.GetValue(steps), parse.GetValue(scheduler)!.ToLowerInvariant(),
                parse.GetValue(cfg), parse.GetValue(seed)).Validate();
            var path = parse.GetValue(outPath)!;
            if (!path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--out must be a .png file, found '{path}'");
            using var pipeline = DeemPipeline.Load(parse.GetValue(model)!, null, placement.Read(parse));
            _ = pipeline.Images;   // fails early for a model without diffusion
            TorchSharp.torch.Tensor? image = null;
            TorchProgress.Create().Start(ctx =>
            {
                var task = ctx.AddTask($"{options.Scheduler} × {options.Steps}", maxValue: options.Steps);
                image = pipeline.GenerateImage(parse.GetValue(prompt)!, options, p => { task.Value = p.Step + 1; ctx.Refresh(); });
            });
            ImageOutputs.SavePng(image!, path);
            parse.InvocationConfiguration.Output.WriteLine($"wrote {path} ({image!.shape[2]}×{image.shape[1]})");
            image.Dispose();
            return 0;
        }));
        return cmd;
    }
}
