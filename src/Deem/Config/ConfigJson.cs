using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

using Deem.IO;

namespace Deem.Config;

/// <summary>
/// Reads config records straight from the published <c>config.json</c> files (HF transformers,
/// diffusers, open_clip). Keys the record does not know are ignored, as HF does; a value of the
/// wrong type is a <see cref="DeemConfigException"/> naming the file and the JSON path.
/// </summary>
public static class ConfigJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNameCaseInsensitive = false,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Deserialises <paramref name="path"/> into <typeparamref name="T"/>.</summary>
    public static T Load<T>(string path)
    {
        if (!File.Exists(path))
            throw new DeemConfigException(path, "(file)", "config file not found");
        return Parse<T>(File.ReadAllText(path), path);
    }

    /// <summary>Deserialises JSON text; <paramref name="source"/> names it in errors.</summary>
    public static T Parse<T>(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options)
                   ?? throw new DeemConfigException(source, "(root)", "JSON is null");
        }
        catch (JsonException e)
        {
            throw new DeemConfigException(source, e.Path ?? "(root)", e.Message, e);
        }
    }

    /// <summary>
    /// Deserialises a file DeemSharp writes whole (<c>deem_config.json</c>): every key that a default
    /// <typeparamref name="T"/> writes must be present at every level of nested objects, and null only
    /// where the default is null, so a missing or null section is an error naming it (e.g.
    /// <c>llm.num_hidden_layers</c>) instead of a silent paper-scale default. Unknown keys are ignored.
    /// </summary>
    public static T LoadComplete<T>(string path) where T : new()
    {
        if (!File.Exists(path))
            throw new DeemConfigException(path, "(file)", "config file not found");
        var text = File.ReadAllText(path);
        JsonNode? input;
        var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, AllowDuplicateProperties = false };
        try { input = JsonNode.Parse(text, documentOptions: options); }
        catch (JsonException e) { throw new DeemConfigException(path, e.Path ?? "(root)", e.Message, e); }
        if (input is not JsonObject root)
            throw new DeemConfigException(path, "(root)", "expected a JSON object");
        RejectNonFinite(root, path, "");
        RequireFields(JsonSerializer.SerializeToNode(new T(), Options)!.AsObject(), root, path, "");
        return Parse<T>(text, path);
    }

    static void RequireFields(JsonObject reference, JsonObject input, string source, string prefix)
    {
        foreach (var (key, expected) in reference)
        {
            var field = prefix + key;
            if (!input.TryGetPropertyValue(key, out var found))
                throw new DeemConfigException(source, field, "missing (every field is required; a model folder's config is written whole)");
            if (found is null && expected is not null)
                throw new DeemConfigException(source, field, $"is null; expected {(expected is JsonObject ? "an object" : expected is JsonArray ? "an array" : "a value")}");
            if (expected is JsonObject sub)
            {
                if (found is not JsonObject subInput)
                    throw new DeemConfigException(source, field, $"expected an object, found {found!.GetValueKind()}");
                RequireFields(sub, subInput, source, field + ".");
            }
        }
    }

    // A number such as 1e999 reads as infinity: no config value may be, and it could not be written back.
    static void RejectNonFinite(JsonNode? node, string source, string field)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o) RejectNonFinite(value, source, field.Length == 0 ? key : field + "." + key);
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) RejectNonFinite(a[i], source, $"{field}[{i}]");
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out double d) && !double.IsFinite(d):
                throw new DeemConfigException(source, field, $"{v.ToJsonString()} is not a finite number");
        }
    }

    /// <summary>Serialises a record with the same key names it is read with.</summary>
    public static string ToJson<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Writes JSON atomically (temp file + rename).</summary>
    public static void Save<T>(T value, string path) => AtomicFile.WriteAllText(path, ToJson(value));
}
