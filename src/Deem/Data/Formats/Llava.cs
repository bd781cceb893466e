using System.Text.Json;
using Deem.IO;

namespace Deem.Data.Formats;

/// <summary>One turn of a LLaVA conversation; <c>From</c> is "human" or "gpt".</summary>
public sealed record LlavaTurn(string From, string Value);

/// <summary>One LLaVA instruction item: {"id", "image", "conversations": [...]}; the first human turn
/// carries "&lt;image&gt;\n" (reference §5.2: the template, not this marker, places the image block).</summary>
public sealed record LlavaItem(string Id, string Image, IReadOnlyList<LlavaTurn> Conversations)
{
    /// <summary>Absolute image path once read (empty when built in memory).</summary>
    public string ImagePath { get; init; } = "";
}

/// <summary>
/// LLaVA-665k-style instruction JSON (a single list). The reader skips and counts items with a
/// missing field, no image, an unreadable image file, or a conversation that is not human/gpt
/// alternating; its keys in errors are "[index] id".
/// </summary>
public static class Llava
{
    public const string ImageMarker = "<image>";

    public static void Write(string path, IEnumerable<LlavaItem> items) =>
        AtomicFile.Write(path, s =>
        {
            using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            w.WriteStartArray();
            foreach (var it in items)
            {
                w.WriteStartObject();
                w.WriteString("id", it.Id);
                w.WriteString("image", it.Image);
                w.WriteStartArray("conversations");
                foreach (var t in it.Conversations)
                {
                    w.WriteStartObject();
                    w.WriteString("from", t.From);
                    w.WriteString("value", t.Value);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });

    public static List<LlavaItem> Read(string path, string imageRoot, SkipCounter skips)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "LLaVA json not found");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new DeemFormatException(path, $"not valid JSON: {e.Message}", $"line {e.LineNumber + 1}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new DeemFormatException(path, "expected a JSON list of items");
            var items = new List<LlavaItem>();
            int index = -1;
            foreach (var el in doc.RootElement.EnumerateArray())
            {
                index++;
                string key = $"[{index}]" + (el.ValueKind == JsonValueKind.Object && JsonFields.OptStr(el, "id") is { } id ? $" {id}" : "");
                try
                {
                    var item = Parse(el);
                    string p = Path.Combine(imageRoot, item.Image);
                    if (!ImageFiles.IsReadable(p))
                        throw new RecordException("unreadable image", File.Exists(p) ? $"{p} does not decode" : $"{p} not found");
                    items.Add(item with { ImagePath = p });
                }
                catch (RecordException e) { skips.Skip(path, key, e.Reason, e.Message, e); }
            }
            return items;
        }
    }

    static LlavaItem Parse(JsonElement el)
    {
        string id = el.ValueKind == JsonValueKind.Object && el.TryGetProperty("id", out var idv)
            ? idv.ValueKind == JsonValueKind.Number ? idv.GetRawText() : JsonFields.Str(el, "id")
            : throw RecordException.Missing("id");
        if (!el.TryGetProperty("image", out var im) || im.ValueKind != JsonValueKind.String)
            throw new RecordException("no image", "item has no 'image' (text-only items are filtered, reference §5.2)");
        var turns = new List<LlavaTurn>();
        foreach (var t in JsonFields.Arr(el, "conversations").EnumerateArray())
            turns.Add(new LlavaTurn(JsonFields.Str(t, "from"), JsonFields.Str(t, "value")));
        if (turns.Count == 0 || turns.Count % 2 != 0)
            throw new RecordException("bad conversation", $"expected human/gpt pairs, found {turns.Count} turns");
        for (int i = 0; i < turns.Count; i++)
            if (turns[i].From != (i % 2 == 0 ? "human" : "gpt"))
                throw new RecordException("bad conversation", $"turn {i} is from '{turns[i].From}'");
        return new LlavaItem(id, im.GetString()!, turns);
    }
}
