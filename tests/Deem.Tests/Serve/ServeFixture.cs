using Deem.World;
using Deem.Inference;
using Deem.Model;
using TorchSharp;

namespace Deem.Tests.Serve;

/// <summary>
/// Three `deem serve` processes over tiny random-weight model folders (written by
/// <see cref="RandomModelFolder"/>): the main one (image steps 2, a 200 kB body limit), one whose
/// weights file is broken (never ready: 503), and one with no queue (every generation is 429);
/// plus a small PNG for image messages, and the openai npm client installed.
/// </summary>
public sealed class ServeFixture : IAsyncLifetime
{
    public const long MaxBodyBytes = 200_000;

    readonly string root = Path.Combine(Path.GetTempPath(), "deem-serve-" + Guid.NewGuid().ToString("N")[..8]);
    ServerProcess? main, broken, full;

    public string ModelDir => Path.Combine(root, "tiny");
    public string ModelId => "tiny";
    public string Png => Path.Combine(root, "red.png");
    public string Url { get; private set; } = "";
    public string BrokenUrl { get; private set; } = "";
    public string FullUrl { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(root);
        RandomModelFolder.Write(ModelDir, "tiny", seed: 5, WorldTokenizer.Default);
        var brokenDir = Path.Combine(root, "broken");
        Directory.CreateDirectory(brokenDir);
        foreach (var f in new[] { DeemCheckpoint.ConfigFile, DeemCheckpoint.TokenizerFile })
            File.Copy(Path.Combine(ModelDir, f), Path.Combine(brokenDir, f));
        File.WriteAllText(Path.Combine(brokenDir, DeemCheckpoint.WeightsFile), "these are not weights");
        using (var red = torch.zeros(3, 24, 24))
        {
            red[0].fill_(0.9);
            ImageOutputs.SavePng(red, Png);
        }
        _ = OpenAiNode.Folder;

        main = new ServerProcess(ModelDir, "--image-steps", "2", "--max-body-bytes", MaxBodyBytes.ToString(), "--max-images", "4");
        broken = new ServerProcess(brokenDir, "--model-name", ModelId);
        full = new ServerProcess(ModelDir, "--max-queue", "0");
        Url = await main.Ready() + "/v1";
        FullUrl = await full.Ready() + "/v1";
        BrokenUrl = await broken.Url() + "/v1";
    }

    public Task DisposeAsync()
    {
        foreach (var s in new[] { main, broken, full }) s?.Dispose();
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }
}
