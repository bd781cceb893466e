using System.Text.Json;
using Deem.IO;

namespace Deem.Data.Formats;

/// <summary>One class of <c>imagenet_class_index.json</c>: {"idx": [wnid, name]}.</summary>
public sealed record ImageNetClass(int Index, string Wnid, string Name);

/// <summary>One image of a class-folder data set.</summary>
public sealed record ImageNetItem(string Path, ImageNetClass Class);

/// <summary>One RobustVQA entry: {"file_name", "gt_caption", "error_caption"} (reference §6.1).</summary>
public sealed record RobustVqaEntry(string FileName, string GtCaption, string ErrorCaption);

/// <summary>
/// ImageNet-style class folders <c>&lt;wnid&gt;/&lt;file&gt;.jpg|jpeg|png</c>, as ImageNet-A, -R and -V2 ship
/// (reference §6.1), the Keras-style class index {"0": ["n01440764", "tench"], …}, and the RobustVQA
/// question file {"imagenet_a": [...], "imagenet_r": [...], "imagenet_v2": [...]} built on them.
/// </summary>
public static class ImageNetFolders
{
    static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];
    static readonly JsonWriterOptions Relaxed = new() { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void WriteClassIndex(string path, IEnumerable<ImageNetClass> classes) =>
        AtomicFile.Write(path, s =>
        {
            using var w = new Utf8JsonWriter(s, Relaxed);
            w.WriteStartObject();
            foreach (var c in classes.OrderBy(c => c.Index))
            {
                w.WriteStartArray(c.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteStringValue(c.Wnid); w.WriteStringValue(c.Name);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        });

    public static List<ImageNetClass> ReadClassIndex(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "class index not found");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var list = new List<ImageNetClass>();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!int.TryParse(p.Name, out int idx)) throw new DeemFormatException(path, "class key is not an integer", p.Name);
                var v = p.Value;
                if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 2 || v[0].ValueKind != JsonValueKind.String || v[1].ValueKind != JsonValueKind.String)
                    throw new DeemFormatException(path, "expected [wnid, name]", p.Name);
                list.Add(new ImageNetClass(idx, v[0].GetString()!, v[1].GetString()!));
            }
            return list.OrderBy(c => c.Index).ToList();
        }
        catch (JsonException e) { throw new DeemFormatException(path, $"not valid JSON: {e.Message}", $"line {e.LineNumber + 1}", e); }
        catch (InvalidOperationException e) { throw new DeemFormatException(path, $"expected an object of index → [wnid, name]: {e.Message}", null, e); }
    }

    /// <summary>Every image under <paramref name="root"/>'s class folders, in ordinal path order.
    /// Folders not in the index and unreadable files are skipped and counted.</summary>
    public static List<ImageNetItem> Read(string root, IReadOnlyList<ImageNetClass> classes, SkipCounter skips)
    {
        if (!Directory.Exists(root)) throw new DeemFormatException(root, "image folder not found");
        var byWnid = classes.ToDictionary(c => c.Wnid, StringComparer.Ordinal);
        var items = new List<ImageNetItem>();
        foreach (var dir in Directory.GetDirectories(root).OrderBy(d => d, StringComparer.Ordinal))
        {
            string wnid = System.IO.Path.GetFileName(dir);
            if (!byWnid.TryGetValue(wnid, out var cls)) { skips.Skip(dir, wnid, "unknown class", "folder is not in the class index"); continue; }
            foreach (var f in Directory.GetFiles(dir).OrderBy(f => f, StringComparer.Ordinal))
            {
                if (!Extensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant())) continue;
                if (!ImageFiles.IsReadable(f)) { skips.Skip(f, null, "unreadable image", "not a decodable image"); continue; }
                items.Add(new ImageNetItem(f, cls));
            }
        }
        return items;
    }

    public static void WriteRobustVqa(string path, IReadOnlyDictionary<string, IReadOnlyList<RobustVqaEntry>> parts) =>
        AtomicFile.Write(path, s =>
        {
            using var w = new Utf8JsonWriter(s, Relaxed);
            w.WriteStartObject();
            foreach (var (name, entries) in parts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                w.WriteStartArray(name);
                foreach (var e in entries)
                {
                    w.WriteStartObject();
                    w.WriteString("file_name", e.FileName); w.WriteString("gt_caption", e.GtCaption); w.WriteString("error_caption", e.ErrorCaption);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        });

    public static Dictionary<string, List<RobustVqaEntry>> ReadRobustVqa(string path, SkipCounter skips)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "RobustVQA json not found");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new DeemFormatException(path, $"not valid JSON: {e.Message}", $"line {e.LineNumber + 1}", e); }
        using (doc)
        {
            var result = new Dictionary<string, List<RobustVqaEntry>>(StringComparer.Ordinal);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new DeemFormatException(path, "expected an object of part → entries");
            foreach (var part in doc.RootElement.EnumerateObject())
            {
                var list = new List<RobustVqaEntry>();
                if (part.Value.ValueKind != JsonValueKind.Array) { skips.Skip(path, part.Name, "missing field", "part is not a list"); continue; }
                int i = 0;
                foreach (var e in part.Value.EnumerateArray())
                {
                    try { list.Add(new RobustVqaEntry(JsonFields.Str(e, "file_name"), JsonFields.Str(e, "gt_caption"), JsonFields.Str(e, "error_caption"))); }
                    catch (RecordException ex) { skips.Skip(path, $"{part.Name}[{i}]", ex.Reason, ex.Message, ex); }
                    i++;
                }
                result[part.Name] = list;
            }
            return result;
        }
    }
}
