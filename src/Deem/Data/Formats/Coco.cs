using System.Text.Json;
using Deem.IO;
using SkiaSharp;

namespace Deem.Data.Formats;

public sealed record CocoImage(long Id, string FileName, int Width, int Height)
{
    /// <summary>Absolute path once read with an image root (empty otherwise).</summary>
    public string Path { get; init; } = "";
}

public sealed record CocoCategory(int Id, string Name, string Supercategory);

/// <summary>A COCO <c>segmentation</c>: polygons ([[x1, y1, x2, y2, …], …]) or an RLE, written with
/// an uncompressed counts list or the compressed string (<see cref="Compressed"/>).</summary>
public sealed record CocoSegmentation(IReadOnlyList<double[]>? Polygons, CocoRle? Rle, bool Compressed = false)
{
    public static CocoSegmentation FromPolygons(IReadOnlyList<double[]> polygons) => new(polygons, null);
    public static CocoSegmentation FromRle(CocoRle rle, bool compressed) => new(null, rle, compressed);

    /// <summary>Row-major [H, W] 0/1 mask; polygons are filled (non-zero winding, no anti-aliasing).</summary>
    public byte[] ToMask(int height, int width)
    {
        if (Rle is not null)
        {
            if (Rle.Height != height || Rle.Width != width)
                throw new ArgumentException($"RLE size {Rle.Height}×{Rle.Width} differs from the image {height}×{width}");
            return Rle.Decode();
        }
        using var a8 = new SKBitmap(new SKImageInfo(width, height, SKColorType.Alpha8, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(a8))
        using (var paint = new SKPaint { IsAntialias = false, Color = SKColors.White })
        {
            canvas.Clear(SKColors.Transparent);
            foreach (var poly in Polygons ?? [])
            {
                using var path = new SKPath();
                for (int i = 0; i + 1 < poly.Length; i += 2)
                    if (i == 0) path.MoveTo((float)poly[0], (float)poly[1]); else path.LineTo((float)poly[i], (float)poly[i + 1]);
                path.Close();
                canvas.DrawPath(path, paint);
            }
        }
        var mask = new byte[height * width];
        var span = a8.GetPixelSpan();
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                mask[y * width + x] = span[y * a8.RowBytes + x] >= 128 ? (byte)1 : (byte)0;
        return mask;
    }
}

/// <summary>One instance; <see cref="Caption"/> is an extra key ("caption") holding the region
/// description for mask-text training (reference §5.3); COCO readers ignore unknown keys.</summary>
public sealed record CocoAnnotation(long Id, long ImageId, int CategoryId, CocoSegmentation Segmentation,
    double[] Bbox, double Area, int IsCrowd, string? Caption = null);

public sealed record CocoDataset(IReadOnlyList<CocoImage> Images, IReadOnlyList<CocoAnnotation> Annotations, IReadOnlyList<CocoCategory> Categories);

/// <summary>
/// COCO instances JSON (<c>instances_*.json</c>: images, annotations with polygon or RLE
/// <c>segmentation</c>, bbox [x, y, w, h], area, category_id, iscrowd; categories), the layout the
/// mask-text stage reads its region masks from (reference §5.3). Bad annotations (missing field,
/// bad segmentation, unknown image) and unreadable images are skipped and counted.
/// </summary>
public static class Coco
{
    public static void Write(string path, CocoDataset data) =>
        AtomicFile.Write(path, s =>
        {
            using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            w.WriteStartObject();
            w.WriteStartArray("images");
            foreach (var im in data.Images)
            {
                w.WriteStartObject();
                w.WriteNumber("id", im.Id); w.WriteString("file_name", im.FileName);
                w.WriteNumber("width", im.Width); w.WriteNumber("height", im.Height);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("annotations");
            foreach (var a in data.Annotations)
            {
                w.WriteStartObject();
                w.WriteNumber("id", a.Id); w.WriteNumber("image_id", a.ImageId); w.WriteNumber("category_id", a.CategoryId);
                w.WritePropertyName("segmentation");
                WriteSegmentation(w, a.Segmentation);
                w.WriteStartArray("bbox");
                foreach (var v in a.Bbox) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteNumber("area", a.Area); w.WriteNumber("iscrowd", a.IsCrowd);
                if (a.Caption is not null) w.WriteString("caption", a.Caption);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("categories");
            foreach (var c in data.Categories)
            {
                w.WriteStartObject();
                w.WriteNumber("id", c.Id); w.WriteString("name", c.Name); w.WriteString("supercategory", c.Supercategory);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });

    static void WriteSegmentation(Utf8JsonWriter w, CocoSegmentation seg)
    {
        if (seg.Rle is { } rle)
        {
            w.WriteStartObject();
            w.WriteStartArray("size"); w.WriteNumberValue(rle.Height); w.WriteNumberValue(rle.Width); w.WriteEndArray();
            if (seg.Compressed) w.WriteString("counts", rle.ToCompressedString());
            else
            {
                w.WriteStartArray("counts");
                foreach (var c in rle.Counts) w.WriteNumberValue(c);
                w.WriteEndArray();
            }
            w.WriteEndObject();
            return;
        }
        w.WriteStartArray();
        foreach (var poly in seg.Polygons ?? [])
        {
            w.WriteStartArray();
            foreach (var v in poly) w.WriteNumberValue(v);
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    /// <summary>Reads an instances file; with <paramref name="imageRoot"/>, images that cannot be read are
    /// dropped (with their annotations) and counted.</summary>
    public static CocoDataset Read(string path, string? imageRoot, SkipCounter skips)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "COCO annotation file not found");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new DeemFormatException(path, $"not valid JSON: {e.Message}", $"line {e.LineNumber + 1}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new DeemFormatException(path, "expected a JSON object");
            var images = new List<CocoImage>();
            var byId = new Dictionary<long, CocoImage>();
            foreach (var (el, i) in Items(root, "images", path))
            {
                try
                {
                    var im = new CocoImage(JsonFields.Long(el, "id"), JsonFields.Str(el, "file_name"),
                        (int)JsonFields.Long(el, "width"), (int)JsonFields.Long(el, "height"));
                    if (imageRoot is not null)
                    {
                        string p = System.IO.Path.Combine(imageRoot, im.FileName);
                        if (!ImageFiles.IsReadable(p)) throw new RecordException("unreadable image", File.Exists(p) ? $"{p} does not decode" : $"{p} not found");
                        im = im with { Path = p };
                    }
                    images.Add(im);
                    byId[im.Id] = im;
                }
                catch (RecordException e) { skips.Skip(path, $"images[{i}]", e.Reason, e.Message, e); }
            }
            var cats = new List<CocoCategory>();
            foreach (var (el, i) in Items(root, "categories", path))
            {
                try { cats.Add(new CocoCategory((int)JsonFields.Long(el, "id"), JsonFields.Str(el, "name"), JsonFields.OptStr(el, "supercategory") ?? "")); }
                catch (RecordException e) { skips.Skip(path, $"categories[{i}]", e.Reason, e.Message, e); }
            }
            var anns = new List<CocoAnnotation>();
            foreach (var (el, i) in Items(root, "annotations", path))
            {
                try
                {
                    long imageId = JsonFields.Long(el, "image_id");
                    if (!byId.TryGetValue(imageId, out var im)) throw new RecordException("unknown image", $"image_id {imageId} is not among the readable images");
                    var seg = ParseSegmentation(el.TryGetProperty("segmentation", out var s) ? s : throw RecordException.Missing("segmentation"), im);
                    var bbox = JsonFields.Numbers(JsonFields.Arr(el, "bbox"), "bbox");
                    if (bbox.Length != 4) throw new RecordException("bad bbox", $"bbox has {bbox.Length} numbers, expected 4");
                    anns.Add(new CocoAnnotation(JsonFields.Long(el, "id"), imageId, (int)JsonFields.Long(el, "category_id"), seg, bbox,
                        JsonFields.Num(el, "area"), (int)JsonFields.Long(el, "iscrowd"), JsonFields.OptStr(el, "caption")));
                }
                catch (RecordException e) { skips.Skip(path, $"annotations[{i}]", e.Reason, e.Message, e); }
            }
            return new CocoDataset(images, anns, cats);
        }
    }

    static IEnumerable<(JsonElement, int)> Items(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var arr) || arr.ValueKind != JsonValueKind.Array)
            throw new DeemFormatException(path, "missing or not a list", name);
        return arr.EnumerateArray().Select((e, i) => (e, i)).ToList();
    }

    static CocoSegmentation ParseSegmentation(JsonElement s, CocoImage im)
    {
        if (s.ValueKind == JsonValueKind.Array)
        {
            var polys = new List<double[]>();
            foreach (var p in s.EnumerateArray())
            {
                if (p.ValueKind != JsonValueKind.Array) throw new RecordException("bad segmentation", "polygon list should hold lists of numbers");
                var xy = JsonFields.Numbers(p, "segmentation");
                if (xy.Length < 6 || xy.Length % 2 != 0) throw new RecordException("bad segmentation", $"a polygon needs ≥ 3 (x, y) pairs, found {xy.Length} numbers");
                polys.Add(xy);
            }
            return CocoSegmentation.FromPolygons(polys);
        }
        if (s.ValueKind != JsonValueKind.Object) throw new RecordException("bad segmentation", $"expected a polygon list or an RLE object, found {s.ValueKind}");
        var size = JsonFields.Numbers(JsonFields.Arr(s, "size"), "size");
        if (size.Length != 2) throw new RecordException("bad segmentation", "RLE 'size' should be [height, width]");
        int h = (int)size[0], w = (int)size[1];
        if (h != im.Height || w != im.Width) throw new RecordException("bad segmentation", $"RLE size {h}×{w} differs from image {im.Height}×{im.Width}");
        if (!s.TryGetProperty("counts", out var c)) throw RecordException.Missing("counts");
        CocoRle rle;
        bool compressed = c.ValueKind == JsonValueKind.String;
        try
        {
            rle = compressed ? CocoRle.FromCompressedString(c.GetString()!, h, w)
                : c.ValueKind == JsonValueKind.Array ? new CocoRle(h, w, JsonFields.Numbers(c, "counts").Select(v => (long)v).ToArray())
                : throw new RecordException("bad segmentation", "'counts' should be a string or a list");
            if (rle.Counts.Sum() != (long)h * w) throw new FormatException($"RLE counts sum to {rle.Counts.Sum()}, expected {h * w}");
        }
        catch (FormatException e) { throw new RecordException("bad segmentation", e.Message); }
        return CocoSegmentation.FromRle(rle, compressed);
    }
}
