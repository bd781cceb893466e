using System.CommandLine;
using Deem.Inference;

namespace Deem.Cli;

/// <summary>
/// `deem chat`: an interactive conversation with a DEEM model; answers stream token by token.
/// Commands: <c>/image PATH</c> attaches an image to the next message, <c>/mask PATH</c> asks about a
/// region of the latest image (stage-3 models), <c>/reset</c> forgets the history, <c>/quit</c> leaves.
/// A bad file in a command is reported on one line and the chat goes on.
/// </summary>
public static class ChatCommand
{
    /// <param name="input">Where lines are read from (the console when null).</param>
    public static Command Create(TextReader? input = null)
    {
        var model = new Option<string>("--model") { Description = "DEEM model folder", Required = true };
        var preset = new Option<string>("--preset") { Description = "generation preset (greedy, interleaved, vqa, caption, default, paragraph)", DefaultValueFactory = _ => "greedy" };
        var maxNew = new Option<int?>("--max-new-tokens") { Description = "override the preset's max_new_tokens" };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 0UL };
        var cmd = new Command("chat", "Chat with a DEEM model (/image PATH, /mask PATH, /reset, /quit)") { model, preset, maxNew, seed };
        var placement = PlacementOptions.ForInference(cmd);
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var reader = input ?? Console.In;
            var p = GenerationPresets.Named(parse.GetValue(preset)!);
            var options = p with { Seed = parse.GetValue(seed) };
            if (parse.GetValue(maxNew) is int n) options = options with { MaxNewTokens = n, MinNewTokens = Math.Min(p.MinNewTokens, n) };
            CliErrors.RefuseSeedWithoutSampling(parse, seed, options, parse.GetValue(preset)!);
            using var pipeline = DeemPipeline.Load(parse.GetValue(model)!, options: Deem.Model.LoadOptions.TextOnly(placement.Read(parse)));   // chat stops at <soi>: text only
            var chat = pipeline.Chat(options);
            output.WriteLine("DEEM chat. /image PATH, /mask PATH, /reset, /quit");
            while (true)
            {
                output.Write("> ");
                output.Flush();
                var line = reader.ReadLine();
                if (line is null) break;
                line = line.Trim();
                if (line.Length == 0) continue;
                try
                {
                    if (line is "/quit" or "/exit") break;
                    if (line == "/reset") { chat.Reset(); output.WriteLine("(history cleared)"); continue; }
                    if (line.StartsWith("/image ", StringComparison.Ordinal))
                    {
                        chat.AttachImage(ImageInputs.Read(line[7..].Trim()));
                        output.WriteLine($"(image attached: {chat.PendingImages} for the next message)");
                        continue;
                    }
                    if (line.StartsWith("/mask ", StringComparison.Ordinal))
                    {
                        var path = line[6..].Trim();
                        chat.AttachRegion(RegionMaskFiles.Read(path), path);
                        output.WriteLine("(region attached)");
                        continue;
                    }
                    if (line.StartsWith('/')) { error.WriteLine($"error: unknown command '{line.Split(' ')[0]}' (/image, /mask, /reset, /quit)"); continue; }
                    foreach (var piece in chat.Send(line))
                    {
                        output.Write(piece);
                        output.Flush();
                    }
                    output.WriteLine();
                }
                catch (Exception e) when (e is DeemException or ArgumentException or InvalidOperationException)
                {
                    error.WriteLine($"error: {e.Message}");
                }
            }
            return 0;
        }));
        return cmd;
    }
}
