using System.Security.Cryptography;
using System.Text.Json;
using Deem.Data.Images;

namespace Deem.Serve;

/// <summary>
/// OpenAI request bodies to typed requests, checking every field's type and range (400 naming the
/// field as <c>param</c>). Images come as <c>image_url</c> parts: <c>data:image/…;base64,</c> URLs, or —
/// only with <see cref="ServeSettings.AllowLocalFiles"/> — a file path or <c>file://</c> URL; they are
/// decoded by the project's image reader (<see cref="ImageTensors"/>), whose errors become 400s.
/// </summary>
public static class RequestReader
{
    /// <summary>Parses a body; bad JSON is a 400.</summary>
    public static JsonElement Parse(byte[] body)
    {
        // JsonDocument accepts invalid UTF-8 inside strings and fails only when one is read.
        if (!System.Text.Unicode.Utf8.IsValid(body))
            throw ApiException.BadRequest("the request body is not valid UTF-8", null, "invalid_json");
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw ApiException.BadRequest($"the request body must be a JSON object, found {doc.RootElement.ValueKind}", null, "invalid_json");
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"the request body is not valid JSON: {e.Message}", null, "invalid_json");
        }
    }

    /// <summary>A chat completion request (images decoded).</summary>
    public static ChatRequest Chat(JsonElement body, ServeSettings settings)
    {
        var messages = Get(body, "messages", JsonValueKind.Array) ?? throw ApiException.BadRequest("messages is required", "messages");
        int total = messages.EnumerateArray().Where(m => m.ValueKind == JsonValueKind.Object && m.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.Array)
            .Sum(m => m.GetProperty("content").EnumerateArray().Count(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "image_url"));
        if (total > settings.MaxImages)
            throw ApiException.BadRequest($"the request has {total} images, more than the server's limit of {settings.MaxImages}", "messages", "too_many_images");
        var turns = new List<ChatTurn>();
        int i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            var at = $"messages[{i}]";
            if (m.ValueKind != JsonValueKind.Object) throw ApiException.BadRequest($"{at} must be an object", at);
            var role = String(m, "role", at) ?? throw ApiException.BadRequest($"{at}.role is required", $"{at}.role");
            if (role == "developer") role = "system";
            if (role is not ("system" or "user" or "assistant"))
                throw ApiException.BadRequest($"{at}.role '{role}' is not supported (system, developer, user, assistant)", $"{at}.role");
            var parts = new List<ChatPart>();
            if (m.TryGetProperty("content", out var content))
            {
                if (content.ValueKind == JsonValueKind.String) parts.Add(new ChatText(content.GetString()!));
                else if (content.ValueKind == JsonValueKind.Array)
                {
                    int j = 0;
                    foreach (var part in content.EnumerateArray())
                    {
                        var pat = $"{at}.content[{j++}]";
                        if (part.ValueKind != JsonValueKind.Object) throw ApiException.BadRequest($"{pat} must be an object", pat);
                        var type = String(part, "type", pat) ?? throw ApiException.BadRequest($"{pat}.type is required", $"{pat}.type");
                        if (type == "text") parts.Add(new ChatText(String(part, "text", pat) ?? ""));
                        else if (type == "image_url")
                        {
                            var image = Get(part, "image_url", JsonValueKind.Object);
                            var url = image is JsonElement o ? String(o, "url", $"{pat}.image_url") : String(part, "image_url", pat);
                            if (url is null) throw ApiException.BadRequest($"{pat}.image_url.url is required", $"{pat}.image_url");
                            parts.Add(new ChatImage(Image(url, $"{pat}.image_url", settings)));
                        }
                        else throw ApiException.BadRequest($"{pat}.type '{type}' is not supported (text, image_url)", $"{pat}.type");
                    }
                }
                else if (content.ValueKind != JsonValueKind.Null)
                    throw ApiException.BadRequest($"{at}.content must be a string or an array of parts, found {content.ValueKind}", $"{at}.content");
            }
            turns.Add(new ChatTurn(role, parts));
            i++;
        }
        if (turns.Count == 0) throw ApiException.BadRequest("messages must not be empty", "messages");

        int maxTokens = Int(body, "max_completion_tokens") ?? Int(body, "max_tokens") ?? 256;
        if (maxTokens < 1) throw ApiException.BadRequest($"max_tokens must be ≥ 1, found {maxTokens}", "max_tokens");
        double temperature = Number(body, "temperature") ?? 1.0;
        if (temperature is < 0 or > 2) throw ApiException.BadRequest($"temperature must be in [0, 2], found {temperature}", "temperature");
        double topP = Number(body, "top_p") ?? 1.0;
        if (topP is <= 0 or > 1) throw ApiException.BadRequest($"top_p must be in (0, 1], found {topP}", "top_p");
        int n = Int(body, "n") ?? 1;
        if (n is < 1 or > 8) throw ApiException.BadRequest($"n must be in [1, 8], found {n}", "n");
        if (n > settings.MaxBatch) throw ApiException.BadRequest($"n = {n} is more than the server's batch of {settings.MaxBatch} rows (--max-batch)", "n");
        int minTokens = Int(body, "min_tokens") ?? 0;
        if (minTokens < 0) throw ApiException.BadRequest($"min_tokens must be ≥ 0, found {minTokens}", "min_tokens");
        ulong seed = Get(body, "seed", JsonValueKind.Number) is JsonElement s
            ? (s.TryGetInt64(out var sv) ? unchecked((ulong)sv) : throw ApiException.BadRequest("seed must be an integer", "seed"))
            : (ulong)RandomNumberGenerator.GetInt32(int.MaxValue);
        var stop = Stop(body);
        bool stream = Bool(body, "stream") ?? false;
        bool includeUsage = Get(body, "stream_options", JsonValueKind.Object) is JsonElement so && (Bool(so, "include_usage") ?? false);
        var imageOutput = String(body, "image_output", "") switch
        {
            null or "none" => ImageOutput.None,
            "data_url" => ImageOutput.DataUrl,
            var other => throw ApiException.BadRequest($"image_output '{other}' is not supported (none, data_url)", "image_output"),
        };
        if (imageOutput == ImageOutput.DataUrl && n != 1)
            throw ApiException.BadRequest("image_output = data_url runs the interleaved loop for one choice; n must be 1", "n");
        return new ChatRequest(turns, new ChatSampling(maxTokens, temperature, topP, n, seed, stop, minTokens), stream, imageOutput, includeUsage);
    }

    /// <summary>An image generation request: prompt, n, size, response_format, seed.</summary>
    public static (string Prompt, int N, bool DataUrl, ulong Seed) Images(JsonElement body, int resolution)
    {
        var prompt = String(body, "prompt", "") ?? throw ApiException.BadRequest("prompt is required", "prompt");
        if (string.IsNullOrWhiteSpace(prompt)) throw ApiException.BadRequest("prompt must not be empty", "prompt");
        int n = Int(body, "n") ?? 1;
        if (n is < 1 or > 4) throw ApiException.BadRequest($"n must be in [1, 4], found {n}", "n");
        var size = String(body, "size", "");
        var native = $"{resolution}x{resolution}";
        if (size is not (null or "auto") && size != native)
            throw ApiException.BadRequest($"size '{size}' is not available: this model draws {native} images", "size");
        var format = String(body, "response_format", "") ?? "b64_json";
        if (format is not ("b64_json" or "url"))
            throw ApiException.BadRequest($"response_format '{format}' is not supported (b64_json, url = a data: URL)", "response_format");
        ulong seed = Int(body, "seed") is int s ? unchecked((ulong)s) : 0UL;
        return (prompt, n, format == "url", seed);
    }

    /// <summary>The model id of a request, when given.</summary>
    public static string? Model(JsonElement body) => String(body, "model", "");

    static TorchSharp.torch.Tensor Image(string url, string param, ServeSettings settings)
    {
        try
        {
            if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            {
                int comma = url.IndexOf(',');
                if (comma < 0 || !url[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                    throw ApiException.BadRequest($"{param}: a data: URL must be base64 (data:image/png;base64,…)", param, "invalid_image");
                byte[] bytes;
                try { bytes = Convert.FromBase64String(url[(comma + 1)..]); }
                catch (FormatException) { throw ApiException.BadRequest($"{param}: the data: URL is not valid base64", param, "invalid_image"); }
                return ImageTensors.Load(bytes, param);
            }
            if (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
                throw ApiException.BadRequest($"{param}: the server does not fetch URLs; send the image as a data: URL", param, "invalid_image");
            if (!settings.AllowLocalFiles)
                throw ApiException.BadRequest($"{param}: local image files are disabled (start the server with --allow-local-files)", param, "invalid_image");
            var path = url.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(url).LocalPath : url;
            return ImageTensors.Load(path);
        }
        catch (Exception e) when (e is DeemException or ArgumentException)
        {
            // The image reader names the source; a decoder that rejects the bytes outright is the same 400.
            throw ApiException.BadRequest(e is DeemException ? e.Message : $"{param}: not a decodable image", param, "invalid_image");
        }
    }

    static IReadOnlyList<string> Stop(JsonElement body)
    {
        if (!body.TryGetProperty("stop", out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.String) return v.GetString() is { Length: > 0 } s ? [s] : [];
        if (v.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest($"stop must be a string or an array of strings, found {v.ValueKind}", "stop");
        var list = v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()!
            : throw ApiException.BadRequest("stop must be a string or an array of strings", "stop")).Where(s => s.Length > 0).ToList();
        if (list.Count > 4) throw ApiException.BadRequest($"stop has {list.Count} strings, at most 4", "stop");
        return list;
    }

    static JsonElement? Get(JsonElement o, string name, JsonValueKind kind, string at = "")
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        var param = at.Length == 0 ? name : $"{at}.{name}";
        bool ok = v.ValueKind == kind || (kind == JsonValueKind.True && v.ValueKind == JsonValueKind.False);
        if (!ok) throw ApiException.BadRequest($"{param} must be {Describe(kind)}, found {v.ValueKind.ToString().ToLowerInvariant()}", param);
        return v;
    }

    static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True => "a boolean",
        _ => kind.ToString(),
    };

    static string? String(JsonElement o, string name, string at) => Get(o, name, JsonValueKind.String, at)?.GetString();

    static bool? Bool(JsonElement o, string name) => Get(o, name, JsonValueKind.True)?.GetBoolean();

    static double? Number(JsonElement o, string name) => Get(o, name, JsonValueKind.Number)?.GetDouble();

    static int? Int(JsonElement o, string name) =>
        Get(o, name, JsonValueKind.Number) is JsonElement v
            ? v.TryGetInt32(out var i) ? i : throw ApiException.BadRequest($"{name} must be an integer, found {v.GetRawText()}", name)
            : null;
}
