using System.Text.Json;

namespace Deem.Benchmarks;

/// <summary>
/// Reading the official benchmark JSON files (VQA questions/annotations, COCO captions, result lists) with
/// one-line errors: every missing or mistyped field is a <see cref="DeemFormatException"/> naming the file,
/// the record and the field.
/// </summary>
internal static class OfficialJson
{
    /// <summary>Parses a whole JSON file; a missing file or invalid JSON is a named error.</summary>
    public static JsonDocument Load(string path, string what)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, $"{what} file not found");
        byte[] bytes = File.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new DeemFormatException(path, $"{what} is not valid UTF-8");
        try { return JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new DeemFormatException(path, $"{what} is not valid JSON: {e.Message}", null, e); }
    }

    /// <summary>The array field <paramref name="name"/> of the root object (or the root itself when name is null).</summary>
    public static JsonElement RootArray(JsonDocument doc, string path, string? name)
    {
        var root = doc.RootElement;
        if (name is null)
            return root.ValueKind == JsonValueKind.Array ? root
                : throw new DeemFormatException(path, $"expected a JSON array of records, found {root.ValueKind}");
        if (root.ValueKind != JsonValueKind.Object)
            throw new DeemFormatException(path, $"expected a JSON object with field '{name}', found {root.ValueKind}");
        return Field(root, name, JsonValueKind.Array, path, "root");
    }

    /// <summary>A required field of the given kind.</summary>
    public static JsonElement Field(JsonElement obj, string name, JsonValueKind kind, string path, string record)
    {
        if (obj.ValueKind != JsonValueKind.Object)
            throw new DeemFormatException(path, $"expected an object, found {obj.ValueKind}", record);
        if (!obj.TryGetProperty(name, out var v))
            throw new DeemFormatException(path, $"field '{name}' is missing", record);
        if (v.ValueKind != kind)
            throw new DeemFormatException(path, $"field '{name}' should be {kind}, found {v.ValueKind}", record);
        return v;
    }

    public static string Str(JsonElement obj, string name, string path, string record) =>
        Field(obj, name, JsonValueKind.String, path, record).GetString()!;

    public static long Id(JsonElement obj, string name, string path, string record) =>
        Field(obj, name, JsonValueKind.Number, path, record).TryGetInt64(out long id) ? id
            : throw new DeemFormatException(path, $"field '{name}' should be an integer id", record);
}
