using System.CommandLine;
using Deem.Inference;

namespace Deem.Cli;

/// <summary>
/// `deem ask`: one-shot, scriptable visual question answering (paper §2.3 inference; reference §4.1
/// VQA preset): prints the answer on one line. With `--mask` the question is about that region of the
/// (single) image (reference §5.3; needs a stage-3 model).
/// </summary>
public static class AskCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "DEEM model folder", Required = true };
        var images = new Option<string[]>("--image") { Description = "image file (repeat for several images)", AllowMultipleArgumentsPerToken = false };
        var mask = new Option<string?>("--mask") { Description = "region mask of the image (PNG, or COCO RLE / polygon JSON)" };
        var preset = new Option<string>("--preset") { Description = "generation preset: vqa, caption, default, paragraph, interleaved, greedy", DefaultValueFactory = _ => "vqa" };
        var maxNew = new Option<int?>("--max-new-tokens") { Description = "override the preset's max_new_tokens" };
        var maxContext = new Option<int?>("--max-context") { Description = "longest prompt + answer (default: max_position_embeddings)" };
        var seed = new Option<ulong?>("--seed") { Description = "sampling seed (default: the preset's)" };
        var question = new Argument<string>("question") { Description = "the question" };
        var cmd = new Command("ask", "Answer a question about images and print the answer") { model, images, mask, preset, maxNew, maxContext, seed, question };
        var placement = PlacementOptions.ForInference(cmd);
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var output = parse.InvocationConfiguration.Output;
            var options = GenerationPresets.Named(parse.GetValue(preset)!);
            if (parse.GetValue(maxNew) is int n) options = options with { MaxNewTokens = n, MinNewTokens = Math.Min(options.MinNewTokens, n) };
            if (parse.GetValue(seed) is ulong s) options = options with { Seed = s };
            CliErrors.RefuseSeedWithoutSampling(parse, seed, options, parse.GetValue(preset)!);
            var paths = parse.GetValue(images) ?? [];
            var pictures = paths.Select(ImageInputs.Read).ToList();
            using var pipeline = DeemPipeline.Load(parse.GetValue(model)!, parse.GetValue(maxContext), Deem.Model.LoadOptions.TextOnly(placement.Read(parse)));
            string answer;
            if (parse.GetValue(mask) is string maskPath)
            {
                if (pictures.Count != 1) throw new ArgumentException($"--mask needs exactly one --image, found {pictures.Count}");
                answer = pipeline.Describe(pictures[0], RegionMaskFiles.Read(maskPath), parse.GetValue(question), options);
            }
            else answer = pipeline.Ask(pictures, parse.GetValue(question)!, options);
            output.WriteLine(answer);
            return 0;
        }));
        return cmd;
    }
}

/// <summary>
/// The inference commands' error policy: bad input (a <see cref="DeemException"/> naming the file or
/// setting, or an invalid argument) is printed as one line on the error stream and exits with 2.
/// </summary>
static class CliErrors
{
    public static int Run(ParseResult parse, Func<int> action)
    {
        try { return action(); }
        catch (Exception e) when (e is DeemException or ArgumentException)
        {
            parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    /// <summary>A <c>--seed</c> given for a preset that does not sample (beam search, greedy) would change nothing: refused.</summary>
    public static void RefuseSeedWithoutSampling(ParseResult parse, Option seed, GenerationOptions options, string preset)
    {
        if (parse.GetResult(seed) is { Implicit: false } && !options.DoSample)
            throw new DeemConfigException("--seed", "seed", $"the '{preset}' preset does not sample (beam search or greedy), so a seed changes nothing; 'interleaved' samples");
    }
}
