using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using Deem.IO;

namespace Deem.Data.Formats;

/// <summary>One image–caption pair of a webdataset shard: <c>{key}.jpg</c>, <c>{key}.json</c> (img2dataset
/// metadata: key, caption, url, width, height, status) and <c>{key}.txt</c> (the caption).</summary>
public sealed record WdsSample(string Key, byte[] Jpg, string Caption, string Url, int Width, int Height)
{
    /// <summary>Where the sample was read from ("00003.tar"), empty when built in memory.</summary>
    public string Source { get; init; } = "";
}

/// <summary>
/// LAION/BLIP-style webdataset shards <c>{00000..N}.tar</c> as written by img2dataset (reference §5.1:
/// <c>laion_wds.py</c> reads jpg + json): consecutive tar entries sharing the key before the first '.'
/// form one sample. The tar is written with fixed metadata (ustar, mtime 0, uid/gid 0, mode 0644)
/// so the same samples always give the same bytes.
/// </summary>
public static class WebDataset
{
    static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes samples into shards of <paramref name="perShard"/>; returns the shard paths.</summary>
    public static List<string> WriteShards(string dir, IReadOnlyList<WdsSample> samples, int perShard)
    {
        if (perShard <= 0) throw new ArgumentOutOfRangeException(nameof(perShard), perShard, "must be positive");
        var paths = new List<string>();
        for (int shard = 0; shard * perShard < samples.Count; shard++)
        {
            string path = Path.Combine(dir, $"{shard:D5}.tar");
            var part = samples.Skip(shard * perShard).Take(perShard).ToList();
            AtomicFile.Write(path, s => WriteTar(s, part));
            paths.Add(path);
        }
        return paths;
    }

    public static void WriteTar(Stream stream, IEnumerable<WdsSample> samples)
    {
        using var tar = new TarWriter(stream, TarEntryFormat.Ustar, leaveOpen: true);
        foreach (var x in samples)
        {
            Add(tar, x.Key + ".jpg", x.Jpg);
            Add(tar, x.Key + ".json", MetaJson(x));
            Add(tar, x.Key + ".txt", Encoding.UTF8.GetBytes(x.Caption));
        }
    }

    static void Add(TarWriter tar, string name, byte[] bytes)
    {
        var e = new UstarTarEntry(TarEntryType.RegularFile, name)
        {
            ModificationTime = DateTimeOffset.UnixEpoch,
            Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            Uid = 0, Gid = 0, UserName = "", GroupName = "",
            DataStream = new MemoryStream(bytes, writable: false),
        };
        tar.WriteEntry(e);
    }

    static byte[] MetaJson(WdsSample x)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("key", x.Key);
            w.WriteString("caption", x.Caption);
            w.WriteString("url", x.Url);
            w.WriteNumber("width", x.Width);
            w.WriteNumber("height", x.Height);
            w.WriteNumber("original_width", x.Width);
            w.WriteNumber("original_height", x.Height);
            w.WriteString("status", "success");
            w.WriteNull("error_message");
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>Every <c>*.tar</c> of <paramref name="dir"/> in name order.</summary>
    public static IEnumerable<WdsSample> ReadDirectory(string dir, SkipCounter skips)
    {
        if (!Directory.Exists(dir)) throw new DeemFormatException(dir, "webdataset folder not found");
        foreach (var shard in Directory.GetFiles(dir, "*.tar").OrderBy(p => p, StringComparer.Ordinal))
            foreach (var s in ReadShard(shard, skips)) yield return s;
    }

    /// <summary>Reads one shard. Samples without a decodable jpg, or whose json is bad, are skipped and
    /// counted; the caption is the .txt entry, else the json's "caption". A truncated tar ends the shard.</summary>
    public static IEnumerable<WdsSample> ReadShard(string path, SkipCounter skips)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "shard not found");
        if (new FileInfo(path).Length == 0)
        {
            // Not a tar at all (a tar holds at least its end-of-archive blocks): a failed download or copy.
            skips.Skip(path, null, "empty tar", "the shard is zero bytes");
            yield break;
        }
        using var fs = File.OpenRead(path);
        var reader = new TarReader(fs);
        string? key = null;
        var parts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        while (true)
        {
            TarEntry? e;
            try { e = reader.GetNextEntry(); }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException)
            {
                skips.Skip(path, key, "corrupt tar", ex.Message, ex);
                break;
            }
            if (e is null) break;
            if (e.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || e.DataStream is null) continue;
            string name = Path.GetFileName(e.Name);
            int dot = name.IndexOf('.');
            string k = dot < 0 ? name : name[..dot], ext = dot < 0 ? "" : name[(dot + 1)..].ToLowerInvariant();
            if (key is not null && k != key)
            {
                if (Build(path, key, parts, skips) is { } s) yield return s;
                parts.Clear();
            }
            key = k;
            using var ms = new MemoryStream();
            e.DataStream.CopyTo(ms);
            parts[ext] = ms.ToArray();
        }
        if (key is not null && parts.Count > 0 && Build(path, key, parts, skips) is { } last) yield return last;
    }

    static WdsSample? Build(string shard, string key, Dictionary<string, byte[]> parts, SkipCounter skips)
    {
        byte[]? jpg = parts.GetValueOrDefault("jpg") ?? parts.GetValueOrDefault("jpeg") ?? parts.GetValueOrDefault("png");
        if (jpg is null) { skips.Skip(shard, key, "missing image", "no .jpg entry"); return null; }
        if (!ImageFiles.IsReadable(jpg)) { skips.Skip(shard, key, "unreadable image", "the .jpg entry does not decode"); return null; }
        string url = "", caption = "";
        int w = 0, h = 0;
        if (parts.TryGetValue("json", out var jb))
        {
            if (!System.Text.Unicode.Utf8.IsValid(jb)) { skips.Skip(shard, key, "bad json", "the .json entry is not valid UTF-8"); return null; }
            try
            {
                using var doc = JsonDocument.Parse(jb);
                var root = doc.RootElement;
                caption = JsonFields.OptStr(root, "caption") ?? "";
                url = JsonFields.OptStr(root, "url") ?? "";
                if (root.TryGetProperty("width", out var wv) && wv.ValueKind == JsonValueKind.Number) w = wv.GetInt32();
                if (root.TryGetProperty("height", out var hv) && hv.ValueKind == JsonValueKind.Number) h = hv.GetInt32();
            }
            catch (JsonException ex) { skips.Skip(shard, key, "bad json", ex.Message, ex); return null; }
        }
        if (parts.TryGetValue("txt", out var tb))
        {
            if (!System.Text.Unicode.Utf8.IsValid(tb)) { skips.Skip(shard, key, "invalid utf-8", "the .txt entry is not valid UTF-8"); return null; }
            caption = Encoding.UTF8.GetString(tb);
        }
        if (caption.Length == 0) { skips.Skip(shard, key, "missing field", "no caption in .txt or .json"); return null; }
        return new WdsSample(key, jpg, caption, url, w, h) { Source = Path.GetFileName(shard) };
    }
}
