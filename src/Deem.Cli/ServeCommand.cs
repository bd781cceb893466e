using System.CommandLine;
using Deem.Serve;

namespace Deem.Cli;

/// <summary>
/// `deem serve`: an OpenAI-compatible HTTP server over a model folder (<see cref="DeemServer"/>):
/// /v1/chat/completions, /v1/images/generations, /v1/models, /health, /ready. Prints the address it
/// listens on; Ctrl+C (or SIGTERM) stops it.
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "DEEM model folder", Required = true };
        var host = new Option<string>("--host") { Description = "address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0 = a free one)", DefaultValueFactory = _ => 8000 };
        var localFiles = new Option<bool>("--allow-local-files") { Description = "let image_url name files on this machine" };
        var maxQueue = new Option<int>("--max-queue") { Description = "most requests waiting; more get 429", DefaultValueFactory = _ => 256 };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "largest request body; larger gets 413", DefaultValueFactory = _ => 16L << 20 };
        var maxBatch = new Option<int>("--max-batch") { Description = "most rows decoded together", DefaultValueFactory = _ => 8 };
        var maxImages = new Option<int>("--max-images") { Description = "most input images per request", DefaultValueFactory = _ => 4 };
        var maxContext = new Option<int?>("--max-context") { Description = "longest prompt + answer (default: max_position_embeddings)" };
        var imageSteps = new Option<int>("--image-steps") { Description = "denoising steps of generated images", DefaultValueFactory = _ => 50 };
        var scheduler = new Option<string>("--image-scheduler") { Description = "ddim | ddpm", DefaultValueFactory = _ => "ddim" };
        var name = new Option<string?>("--model-name") { Description = "model id clients send (default: the folder's name)" };
        var cmd = new Command("serve", "OpenAI-compatible HTTP server (chat completions, image generations)")
            { model, host, port, localFiles, maxQueue, maxBody, maxBatch, maxImages, maxContext, imageSteps, scheduler, name };
        var placement = PlacementOptions.ForInference(cmd);
        cmd.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var settings = new ServeSettings(parse.GetValue(model)!, parse.GetValue(host)!, parse.GetValue(port),
                parse.GetValue(localFiles), parse.GetValue(maxQueue), parse.GetValue(maxBody), parse.GetValue(maxBatch),
                parse.GetValue(maxImages), parse.GetValue(maxContext), parse.GetValue(imageSteps),
                parse.GetValue(scheduler)!.ToLowerInvariant(), parse.GetValue(name), placement.Read(parse));
            var output = parse.InvocationConfiguration.Output;
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM,
                c => { c.Cancel = true; stop.Cancel(); });
            DeemServer.Run(settings, url => { output.WriteLine($"listening on {url}"); output.Flush(); }, stop.Token).GetAwaiter().GetResult();
            return 0;
        }));
        return cmd;
    }
}
