using System.Text.Json;

namespace Deem.Data.Formats;

/// <summary>Typed access to required JSON fields; a missing or mistyped field is a <see cref="RecordException"/>.</summary>
internal static class JsonFields
{
    public static JsonElement Get(JsonElement obj, string name, JsonValueKind kind)
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new RecordException("missing field", $"expected an object holding '{name}'");
        if (!obj.TryGetProperty(name, out var v)) throw RecordException.Missing(name);
        bool ok = kind switch
        {
            JsonValueKind.True or JsonValueKind.False => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
            _ => v.ValueKind == kind,
        };
        if (!ok) throw new RecordException("missing field", $"'{name}' should be {kind}, found {v.ValueKind}");
        return v;
    }

    public static string Str(JsonElement obj, string name) => Get(obj, name, JsonValueKind.String).GetString()!;

    public static string? OptStr(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static double Num(JsonElement obj, string name) => Get(obj, name, JsonValueKind.Number).GetDouble();

    public static long Long(JsonElement obj, string name)
    {
        var v = Get(obj, name, JsonValueKind.Number);
        return v.TryGetInt64(out long l) ? l : throw new RecordException("missing field", $"'{name}' should be an integer");
    }

    public static JsonElement Arr(JsonElement obj, string name) => Get(obj, name, JsonValueKind.Array);

    public static double[] Numbers(JsonElement arr, string what) =>
        arr.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number ? x.GetDouble()
            : throw new RecordException("missing field", $"'{what}' should hold numbers")).ToArray();
}
