using Deem.World;
using System.CommandLine;
using Deem.Cli;
using Deem.Model;
using Deem.Serve;
using Deem.Tests.Inference;
using Microsoft.Extensions.AI;
using SkiaSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Serve;

/// <summary>The interleaved loop from the CLI (`deem interleave`) and from the serving pipeline (image_output = data_url).</summary>
public class InterleavedTests
{
    /// <summary>A random tiny model whose first token is always <c>&lt;soi&gt;</c> (head_new's soi bias raised), so an image comes first.</summary>
    static string EagerImageModel()
    {
        var dir = InferenceFixtures.TempDir();
        RandomModelFolder.Write(dir, "tiny", seed: 9, WorldTokenizer.Default);
        var (model, tokenizer) = DeemCheckpoint.Load(dir);
        using (model)
        {
            using (no_grad())
                model.named_parameters().Single(p => p.name.EndsWith("head_new.bias")).parameter[0].fill_(400.0);
            DeemCheckpoint.Save(dir, model, tokenizer);
        }
        return dir;
    }

    [Fact]
    public async Task TheChatClientReturnsTheGeneratedImageAsAPngPart()
    {
        var dir = EagerImageModel();
        using IChatClient client = DeemChatClient.Load(dir, new ServeSettings(dir, ImageSteps: 2));
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 8, AdditionalProperties = new() { ["image_output"] = "data_url" } };
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Draw a red square.")], options);
        var image = Assert.IsType<DataContent>(response.Messages.Single().Contents.First(c => c is DataContent));
        Assert.Equal("image/png", image.MediaType);
        using var bitmap = SKBitmap.Decode(image.Data.ToArray());
        var config = Deem.Config.DeemConfig.Load(Path.Combine(dir, DeemCheckpoint.ConfigFile));
        Assert.Equal(config.DecoderResolution, bitmap.Width);

        // Without image_output the answer ends at <soi>, as in `deem chat`: no text, no image, finish "stop".
        var plain = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Draw a red square.")], new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
        Assert.Equal("", plain.Text);
        Assert.DoesNotContain(plain.Messages.Single().Contents, c => c is DataContent);
        Assert.Equal(ChatFinishReason.Stop, plain.FinishReason);
    }

    [Fact]
    public async Task TheServerReturnsTheImageAsADataUrlPartStreamedOrNot()
    {
        var dir = EagerImageModel();
        var settings = new ServeSettings(dir, Port: 0, ImageSteps: 2);
        using var worker = new GenerationWorker(settings, () => Deem.Inference.DeemPipeline.Load(dir));
        await using var app = DeemServer.Build(settings, worker);
        await app.StartAsync();
        await worker.Loaded;
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(3) };
        var url = app.Urls.First() + "/v1/chat/completions";
        string Body(bool stream) => $$"""{"messages": [{"role": "user", "content": "Draw a red square."}], "max_tokens": 8, "temperature": 0, "image_output": "data_url", "stream": {{(stream ? "true" : "false")}}}""";

        int imageParts;
        var whole = await http.PostAsync(url, new StringContent(Body(false), System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(200, (int)whole.StatusCode);
        using (var doc = System.Text.Json.JsonDocument.Parse(await whole.Content.ReadAsStringAsync()))
        {
            var parts = doc.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").EnumerateArray().ToList();
            var part = parts.First(p => p.GetProperty("type").GetString() == "image_url");
            imageParts = parts.Count(p => p.GetProperty("type").GetString() == "image_url");
            Assert.StartsWith("data:image/png;base64,", part.GetProperty("image_url").GetProperty("url").GetString());
        }

        var streamed = await http.PostAsync(url, new StringContent(Body(true), System.Text.Encoding.UTF8, "application/json"));
        var lines = (await streamed.Content.ReadAsStringAsync()).Split('\n').Where(l => l.StartsWith("data: ")).Select(l => l[6..]).ToList();
        Assert.Equal("[DONE]", lines[^1]);
        var images = lines[..^1].Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("choices"))
            .Where(c => c.GetArrayLength() > 0 && c[0].GetProperty("delta").TryGetProperty("content", out var content) && content.ValueKind == System.Text.Json.JsonValueKind.Array)
            .ToList();
        Assert.Equal(imageParts, images.Count);      // the same images, one chunk each
        await app.StopAsync();
    }

    [Fact]
    public void TheInterleaveCommandWritesTheImagesItGenerates()
    {
        var dir = EagerImageModel();
        var outDir = Path.Combine(dir, "out");
        var root = new RootCommand { InterleaveCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        int code = root.Parse(["interleave", "--model", dir, "--out", outDir, "--steps", "2", "--max-images", "1", "--max-tokens", "20", "Draw a red square."])
            .Invoke(new InvocationConfiguration { Output = output, Error = error });
        Assert.True(code == 0, error.ToString());
        Assert.True(File.Exists(Path.Combine(outDir, "image-1.png")), output.ToString());
        Assert.Contains("1 image(s)", output.ToString());
    }
}
