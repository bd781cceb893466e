using System.Text;
using Deem.Diagnostics.Fuzz;
using SkiaSharp;

namespace Deem.Serve;

/// <summary>
/// Request bodies of <c>/v1/chat/completions</c> and <c>/v1/images/generations</c> read as the server
/// reads them (<see cref="RequestReader"/>, images decoded). A rejection must be an OpenAI error the
/// server answers (an <see cref="ApiException"/>, counted as a typed error), never another exception
/// (which the server could only answer with a 500). There is no wrong-result oracle: an accepted body is ok.
/// </summary>
public sealed class ChatRequestFuzzTarget : FuzzTarget
{
    readonly ServeSettings _settings = new(ModelDir: ".");

    public override string Name => "chat";

    public override IReadOnlyList<byte[]> Seeds { get; } = MakeSeeds();

    public override bool Check(byte[] input)
    {
        try
        {
            var body = RequestReader.Parse(input);
            if (body.TryGetProperty("prompt", out _)) RequestReader.Images(body, resolution: 64);
            else RequestReader.Chat(body, _settings);
            return true;
        }
        catch (ApiException e)
        {
            throw new DeemException($"HTTP {e.Status} {e.Type}: {e.Message}", e);
        }
    }

    static byte[][] MakeSeeds()
    {
        string png;
        using (var bitmap = new SKBitmap(8, 8))
        {
            bitmap.Erase(new SKColor(200, 30, 30));
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            png = Convert.ToBase64String(data.ToArray());
        }
        string[] bodies =
        [
            """{"model": "m", "messages": [{"role": "user", "content": "What is in the picture?"}]}""",
            "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Colour?\"}, " +
            "{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64," + png + "\"}}]}], " +
            "\"max_tokens\": 8, \"temperature\": 0.7, \"top_p\": 0.9, \"n\": 2, \"seed\": 3}",
            """{"messages": [{"role": "user", "content": "Tell a story."}, {"role": "assistant", "content": "Once"}, {"role": "user", "content": "Go on."}], "stream": true, "stop": ["."], "max_tokens": 16}""",
            """{"model": "m", "prompt": "a red heart", "n": 1, "size": "64x64", "response_format": "b64_json"}""",
        ];
        return bodies.Select(Encoding.UTF8.GetBytes).ToArray();
    }
}
