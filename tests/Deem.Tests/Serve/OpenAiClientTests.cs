using System.Text.Json;
using Deem.Model;
using SkiaSharp;

namespace Deem.Tests.Serve;

/// <summary>A real `deem serve` process driven by the official OpenAI npm client.</summary>
public class OpenAiClientTests(ServeFixture server) : IClassFixture<ServeFixture>
{
    [Fact]
    public void ChatsSeesADataImageStreamsTheSameAnswerAndDraws()
    {
        var json = OpenAiNode.Node("chat.mjs", server.Url, server.ModelId, server.Png);
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        var config = Deem.Config.DeemConfig.Load(Path.Combine(server.ModelDir, DeemCheckpoint.ConfigFile));

        var plain = r.GetProperty("plain");
        Assert.Equal("chat.completion", plain.GetProperty("object").GetString());
        Assert.Equal(JsonValueKind.String, plain.GetProperty("content").ValueKind);
        var usage = plain.GetProperty("usage");
        int completion = usage.GetProperty("completion_tokens").GetInt32();
        Assert.InRange(completion, 0, 8);
        Assert.Equal(completion == 8 ? "length" : "stop", plain.GetProperty("finish").GetString());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + completion, usage.GetProperty("total_tokens").GetInt32());

        // The image counts its soi and Nq placeholders in the prompt.
        var image = r.GetProperty("image");
        Assert.True(image.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > config.ImageTokens + 1);

        var stream = r.GetProperty("stream");
        Assert.Equal(stream.GetProperty("whole").GetString(), stream.GetProperty("joined").GetString());
        Assert.Equal(stream.GetProperty("wholeFinish").GetString(), stream.GetProperty("finish").GetString());
        Assert.True(stream.GetProperty("chunks").GetInt32() >= 2);
        Assert.Equal(stream.GetProperty("wholeUsage").GetRawText(), stream.GetProperty("usage").GetRawText());

        Assert.Equal([0, 1], r.GetProperty("n").EnumerateArray().Select(e => e.GetInt32()));

        var pngs = r.GetProperty("images").EnumerateArray().Select(e => Convert.FromBase64String(e.GetString()!)).ToList();
        Assert.Single(pngs);
        using var bitmap = SKBitmap.Decode(pngs[0]);
        Assert.Equal(config.DecoderResolution, bitmap.Width);
        Assert.Equal(config.DecoderResolution, bitmap.Height);

        Assert.Equal([server.ModelId], r.GetProperty("models").EnumerateArray().Select(e => e.GetString()));
    }

    public static TheoryData<string, string, int, string?, string?> Failures => new()
    {
        { "main", "bad-json", 400, null, "invalid_json" },
        { "main", "wrong-type", 400, "max_tokens", null },
        { "main", "too-many-images", 400, "messages", "too_many_images" },
        { "main", "too-long", 400, "messages", "context_length_exceeded" },
        { "main", "bad-image", 400, "messages[0].content[0].image_url", "invalid_image" },
        { "main", "local-file", 400, "messages[0].content[0].image_url", "invalid_image" },
        { "main", "bad-size", 400, "size", null },
        { "main", "unknown-model", 404, "model", "model_not_found" },
        { "main", "unknown-route", 404, null, "unknown_url" },
        { "main", "too-large", 413, null, "request_too_large" },
        { "full", "chat", 429, null, "queue_full" },
        { "full", "images", 429, null, "queue_full" },
        { "broken", "chat", 503, null, "model_not_ready" },
        { "broken", "images", 503, null, "model_not_ready" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void EveryFailureIsAnApiErrorWithOpenAisBody(string which, string name, int status, string? param, string? code)
    {
        var url = which switch { "full" => server.FullUrl, "broken" => server.BrokenUrl, _ => server.Url };
        var json = OpenAiNode.Node("errors.mjs", url, server.ModelId, name);
        using var doc = JsonDocument.Parse(json);
        var e = doc.RootElement;
        Assert.False(e.TryGetProperty("ok", out _), $"{name}: no error was thrown");
        Assert.Equal(status, e.GetProperty("status").GetInt32());
        Assert.Equal(status switch { 429 => "rate_limit_error", 503 => "server_error", _ => "invalid_request_error" }, e.GetProperty("type").GetString());
        Assert.Equal(param, e.GetProperty("param").GetString());
        Assert.Equal(code, e.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(e.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task HealthIsUpWhileReadyWaitsForTheModel()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        var brokenBase = server.BrokenUrl[..^"/v1".Length];
        Assert.Equal(200, (int)(await http.GetAsync(brokenBase + "/health")).StatusCode);
        var notReady = await http.GetAsync(brokenBase + "/ready");
        Assert.Equal(503, (int)notReady.StatusCode);
        using var body = JsonDocument.Parse(await notReady.Content.ReadAsStringAsync());
        Assert.Contains("failed to load", body.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(200, (int)(await http.GetAsync(server.Url[..^"/v1".Length] + "/ready")).StatusCode);
    }
}
