using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Deem.IO;

namespace Deem.Data.Formats;

/// <summary>One entry of an MMC4 document's <c>image_info</c> (reference §5.1).</summary>
public sealed record Mmc4ImageInfo(string ImageName, int MatchedTextIndex, double MatchedSim, string RawUrl)
{
    /// <summary>The image file MMC4 loaders open: <c>image_name[:12] + ".jpg"</c>.</summary>
    public string FileName => (ImageName.Length > 12 ? ImageName[..12] : ImageName) + ".jpg";
}

/// <summary>An MMC4 document: sentences, images matched to sentences, and the image×sentence CLIP
/// similarity matrix (<c>similarity_matrix[i][j]</c> = image i vs sentence j).</summary>
public sealed record Mmc4Document(IReadOnlyList<string> TextList, IReadOnlyList<Mmc4ImageInfo> ImageInfo, double[][] SimilarityMatrix);

/// <summary>A document as read: images whose file could not be read are already dropped;
/// <see cref="ImagePaths"/> is parallel to <c>Document.ImageInfo</c>.</summary>
public sealed record Mmc4Record(Mmc4Document Document, IReadOnlyList<string> ImagePaths, string Source);

/// <summary>
/// MMC4 jsonl documents (<c>docs_no_face_shard_{i}_v3.jsonl</c>, optionally inside a <c>.zip</c>,
/// reference §5.1) with the images in a flat folder named <c>image_name[:12].jpg</c>.
/// The reader drops images that fail to load (as the DEEM loader does) and counts them; filtering
/// by <c>matched_sim</c>, sampling ≤ 6 images and placement are the packing stage's business.
/// </summary>
public static class Mmc4
{
    /// <summary>Writes documents as JSON lines (atomic).</summary>
    public static void Write(string jsonlPath, IEnumerable<Mmc4Document> docs) =>
        AtomicFile.Write(jsonlPath, s =>
        {
            foreach (var d in docs)
            {
                s.Write(ToJsonLine(d));
                s.WriteByte((byte)'\n');
            }
        });

    public static byte[] ToJsonLine(Mmc4Document d)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartArray("text_list");
            foreach (var t in d.TextList) w.WriteStringValue(t);
            w.WriteEndArray();
            w.WriteStartArray("image_info");
            foreach (var im in d.ImageInfo)
            {
                w.WriteStartObject();
                w.WriteString("image_name", im.ImageName);
                w.WriteString("raw_url", im.RawUrl);
                w.WriteNumber("matched_text_index", im.MatchedTextIndex);
                w.WriteNumber("matched_sim", im.MatchedSim);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("similarity_matrix");
            foreach (var row in d.SimilarityMatrix)
            {
                w.WriteStartArray();
                foreach (var v in row) w.WriteNumberValue(v);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>Reads a <c>.jsonl</c> file, or every <c>.jsonl</c> entry of a <c>.zip</c>.</summary>
    public static IEnumerable<Mmc4Record> Read(string path, string imageDir, SkipCounter skips)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "MMC4 annotation file not found");
        if (path.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
        {
            using var zip = ZipFile.OpenRead(path);
            foreach (var entry in zip.Entries.Where(e => e.FullName.EndsWith(".jsonl", StringComparison.Ordinal)))
            {
                using var stream = entry.Open();
                foreach (var r in ReadLines(stream, $"{path}!{entry.FullName}", imageDir, skips)) yield return r;
            }
            yield break;
        }
        using (var stream = File.OpenRead(path))
            foreach (var r in ReadLines(stream, path, imageDir, skips)) yield return r;
    }

    static IEnumerable<Mmc4Record> ReadLines(Stream stream, string file, string imageDir, SkipCounter skips)
    {
        foreach (var (lineNo, line) in JsonLines.Read(stream, file, skips))
        {
            string key = $"line {lineNo}";
            Mmc4Document doc;
            try
            {
                using var json = JsonDocument.Parse(line);
                doc = Parse(json.RootElement);
            }
            catch (JsonException e) { skips.Skip(file, key, "bad json", e.Message, e); continue; }
            catch (RecordException e) { skips.Skip(file, key, e.Reason, e.Message, e); continue; }

            var keptInfo = new List<Mmc4ImageInfo>();
            var keptPaths = new List<string>();
            var keptRows = new List<double[]>();
            for (int i = 0; i < doc.ImageInfo.Count; i++)
            {
                var im = doc.ImageInfo[i];
                string p = Path.Combine(imageDir, im.FileName);
                if (!ImageFiles.IsReadable(p))
                {
                    skips.Skip(p, $"{file} {key}", "unreadable image", File.Exists(p) ? "not a decodable image" : "file not found");
                    continue;
                }
                keptInfo.Add(im);
                keptPaths.Add(p);
                if (i < doc.SimilarityMatrix.Length) keptRows.Add(doc.SimilarityMatrix[i]);
            }
            yield return new Mmc4Record(new Mmc4Document(doc.TextList, keptInfo, keptRows.ToArray()), keptPaths, $"{file}:{lineNo}");
        }
    }

    static Mmc4Document Parse(JsonElement root)
    {
        var texts = JsonFields.Arr(root, "text_list").EnumerateArray()
            .Select(t => t.ValueKind == JsonValueKind.String ? t.GetString()! : throw new RecordException("missing field", "'text_list' should hold strings"))
            .ToList();
        var infos = new List<Mmc4ImageInfo>();
        foreach (var im in JsonFields.Arr(root, "image_info").EnumerateArray())
        {
            long idx = JsonFields.Long(im, "matched_text_index");
            if (idx < 0 || idx >= texts.Count)
                throw new RecordException("bad index", $"matched_text_index {idx} outside text_list of {texts.Count}");
            infos.Add(new Mmc4ImageInfo(JsonFields.Str(im, "image_name"), (int)idx, JsonFields.Num(im, "matched_sim"),
                JsonFields.OptStr(im, "raw_url") ?? ""));
        }
        double[][] sim = root.TryGetProperty("similarity_matrix", out var sm) && sm.ValueKind == JsonValueKind.Array
            ? sm.EnumerateArray().Select(r => r.ValueKind == JsonValueKind.Array ? JsonFields.Numbers(r, "similarity_matrix")
                : throw new RecordException("missing field", "'similarity_matrix' should be a list of lists")).ToArray()
            : [];
        return new Mmc4Document(texts, infos, sim);
    }
}
