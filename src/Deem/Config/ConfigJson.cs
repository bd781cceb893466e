using System.Text.Json;
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

    /// <summary>Serialises a record with the same key names it is read with.</summary>
    public static string ToJson<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Writes JSON atomically (temp file + rename).</summary>
    public static void Save<T>(T value, string path) => AtomicFile.WriteAllText(path, ToJson(value));
}
