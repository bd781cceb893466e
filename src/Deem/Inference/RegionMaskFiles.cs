using System.Text.Json;
using Deem.Data.Formats;
using SkiaSharp;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// Region masks for "what is in this region" prompts (reference §1.10, §5.3), read from
///   • an image file (PNG, …): a pixel is inside when its mean RGB value is above 127;
///   • JSON: COCO RLE <c>{"size": [h, w], "counts": "…" | [n, …]}</c>, a polygon object
///     <c>{"size": [h, w], "polygons" | "segmentation": [[x1, y1, x2, y2, …], …]}</c>, or a COCO
///     annotation whose <c>segmentation</c> is either of those (its size from <c>size</c> or
///     <c>height</c>/<c>width</c>).
/// The result is a 2-D [H, W] float tensor of 0/1; anything else is an error naming the file.
/// </summary>
public static class RegionMaskFiles
{
    /// <summary>Reads a mask file as [H, W] 0/1 float32.</summary>
    public static Tensor Read(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "mask file not found");
        if (Path.GetExtension(path).Equals(".json", StringComparison.OrdinalIgnoreCase)) return ReadJson(path);
        SKBitmap bitmap;
        try { bitmap = ImageFiles.Decode(path); }
        catch (DeemFormatException e) { throw new DeemFormatException(path, "not a readable mask image (PNG or JSON RLE/polygon expected)", inner: e); }
        using (bitmap)
        {
            var rgb = ImageFiles.Rgb(bitmap);
            int h = bitmap.Height, w = bitmap.Width;
            var mask = new float[h * w];
            for (int i = 0; i < mask.Length; i++) mask[i] = rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2] > 3 * 127 ? 1f : 0f;
            return tensor(mask, new long[] { h, w });
        }
    }

    /// <summary>Checks a mask tensor is 2-D ([H, W], or [1, H, W]) and returns it as [H, W] 0/1 float32.</summary>
    public static Tensor Check(Tensor mask, string source)
    {
        var m = mask.ndim == 3 && mask.shape[0] == 1 ? mask.squeeze(0) : mask;
        if (m.ndim != 2)
            throw new DeemFormatException(source, $"a region mask must be 2-D [H, W], found [{string.Join(", ", mask.shape)}]");
        return m.gt(0).to_type(ScalarType.Float32);
    }

    /// <summary>Nearest-neighbour resize of masks [I, 1, h, w] to [I, 1, H, W].</summary>
    public static Tensor Resize(Tensor masks, long height, long width)
    {
        if (masks.shape[2] == height && masks.shape[3] == width) return masks.to_type(ScalarType.Float32);
        return nn.functional.interpolate(masks.to_type(ScalarType.Float32), [height, width], mode: InterpolationMode.Nearest);
    }

    static Tensor ReadJson(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new DeemFormatException(path, $"not valid JSON: {e.Message}", inner: e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new DeemFormatException(path, "expected a JSON object with a mask");
            var (h, w) = Size(path, root);
            if (root.TryGetProperty("counts", out _)) return FromRle(path, root, h, w);
            JsonElement polys = default;
            bool hasPolys = root.TryGetProperty("polygons", out polys) || root.TryGetProperty("segmentation", out polys);
            if (!hasPolys) throw new DeemFormatException(path, "no mask found: expected 'counts' (RLE), 'polygons' or 'segmentation'");
            if (polys.ValueKind == JsonValueKind.Object)
            {
                if (!polys.TryGetProperty("counts", out _)) throw new DeemFormatException(path, "segmentation object without 'counts'", "segmentation");
                var (sh, sw) = polys.TryGetProperty("size", out _) ? Size(path, polys) : (h, w);
                return FromRle(path, polys, sh, sw);
            }
            return FromPolygons(path, polys, h, w);
        }
    }

    static (int H, int W) Size(string path, JsonElement e)
    {
        if (e.TryGetProperty("size", out var size))
        {
            if (size.ValueKind != JsonValueKind.Array || size.GetArrayLength() != 2)
                throw new DeemFormatException(path, $"a region mask must be 2-D: 'size' must be [height, width], found {size.GetRawText()}", "size");
            int hh = size[0].GetInt32(), ww = size[1].GetInt32();
            if (hh <= 0 || ww <= 0) throw new DeemFormatException(path, $"'size' must be positive, found [{hh}, {ww}]", "size");
            return (hh, ww);
        }
        if (e.TryGetProperty("height", out var he) && e.TryGetProperty("width", out var we)) return (he.GetInt32(), we.GetInt32());
        throw new DeemFormatException(path, "the mask needs its size: 'size': [height, width] or 'height' and 'width'");
    }

    static Tensor FromRle(string path, JsonElement e, int h, int w)
    {
        var counts = e.GetProperty("counts");
        CocoRle rle;
        try
        {
            rle = counts.ValueKind == JsonValueKind.String
                ? CocoRle.FromCompressedString(counts.GetString()!, h, w)
                : new CocoRle(h, w, counts.EnumerateArray().Select(c => c.GetInt64()).ToArray());
            var bytes = rle.Decode();
            return tensor(bytes.Select(b => (float)b).ToArray(), new long[] { h, w });
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException)
        {
            throw new DeemFormatException(path, $"bad RLE: {ex.Message}", "counts", ex);
        }
    }

    static Tensor FromPolygons(string path, JsonElement polys, int h, int w)
    {
        if (polys.ValueKind != JsonValueKind.Array) throw new DeemFormatException(path, "polygons must be a list of [x1, y1, x2, y2, …] lists", "polygons");
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Gray8, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
        using (var paint = new SKPaint { Color = SKColors.White, IsAntialias = false, Style = SKPaintStyle.Fill })
        {
            canvas.Clear(SKColors.Black);
            foreach (var poly in polys.EnumerateArray())
            {
                var xy = poly.ValueKind == JsonValueKind.Array ? poly.EnumerateArray().Select(v => v.GetSingle()).ToArray() : [];
                if (xy.Length < 6 || xy.Length % 2 != 0)
                    throw new DeemFormatException(path, $"a polygon needs an even number (≥ 6) of coordinates, found {xy.Length}", "polygons");
                using var pathObj = new SKPath();
                pathObj.MoveTo(xy[0], xy[1]);
                for (int i = 2; i < xy.Length; i += 2) pathObj.LineTo(xy[i], xy[i + 1]);
                pathObj.Close();
                canvas.DrawPath(pathObj, paint);
            }
        }
        var px = bitmap.Bytes;
        var mask = new float[h * w];
        int stride = bitmap.RowBytes;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) mask[y * w + x] = px[y * stride + x] > 127 ? 1f : 0f;
        return tensor(mask, new long[] { h, w });
    }
}
