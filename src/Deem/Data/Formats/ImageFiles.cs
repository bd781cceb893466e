using SkiaSharp;
using TorchSharp;

namespace Deem.Data.Formats;

/// <summary>
/// Image bytes in and out: deterministic PNG/JPEG encoding with SkiaSharp (same pixels → same bytes),
/// cheap readability checks (header only) for the readers, and decoding to a [3, H, W] float tensor
/// in [0, 1], the layout the DEEM transforms start from (reference §5.1 "each in [0, 1], CHW float").
/// Decoding is bounded and complete: see <see cref="Decode(string, ImageLimits?)"/>.
/// </summary>
public static class ImageFiles
{
    public const int JpegQuality = 92;

    /// <summary>Encodes by file extension: .png lossless, .jpg/.jpeg at <see cref="JpegQuality"/>.</summary>
    public static byte[] Encode(SKBitmap bitmap, string extension)
    {
        var format = extension.ToLowerInvariant() switch
        {
            ".png" or "png" => SKEncodedImageFormat.Png,
            ".jpg" or ".jpeg" or "jpg" or "jpeg" => SKEncodedImageFormat.Jpeg,
            _ => throw new ArgumentException($"unsupported image extension '{extension}' (png, jpg, jpeg)", nameof(extension)),
        };
        using var data = bitmap.Encode(format, format == SKEncodedImageFormat.Png ? 100 : JpegQuality)
                         ?? throw new InvalidOperationException($"SkiaSharp could not encode {format}");
        return data.ToArray();
    }

    /// <summary>True when the bytes carry a decodable image header (PNG, JPEG, …).</summary>
    public static bool IsReadable(byte[] bytes)
    {
        if (bytes.Length == 0) return false;
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        return codec is not null && codec.Info.Width > 0 && codec.Info.Height > 0;
    }

    /// <summary>True when the file exists and its header decodes.</summary>
    public static bool IsReadable(string path)
    {
        if (!File.Exists(path)) return false;
        using var codec = SKCodec.Create(path);
        return codec is not null && codec.Info.Width > 0 && codec.Info.Height > 0;
    }

    /// <summary>
    /// The one way an image file enters DeemSharp (every verb, data reader and server request): the
    /// <paramref name="limits"/> (default <see cref="ImageLimits.Default"/>) are checked on the file size
    /// and the header before any pixel is decoded, a PNG's structure is verified end to end
    /// (<see cref="PngCheck"/>), and the decode must complete; decodes to RGBA8888 unpremultiplied.
    /// Any fault throws a one-line <see cref="DeemFormatException"/> naming the file.
    /// </summary>
    public static SKBitmap Decode(string path, ImageLimits? limits = null)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "image file not found");
        var l = limits ?? ImageLimits.Default;
        l.CheckBytes(path, new FileInfo(path).Length);
        return Decode(File.ReadAllBytes(path), path, l);
    }

    /// <summary>As <see cref="Decode(string, ImageLimits?)"/> for encoded bytes (a webdataset entry, an upload) called <paramref name="source"/> in errors.</summary>
    public static SKBitmap Decode(byte[] bytes, string source, ImageLimits? limits = null)
    {
        var l = limits ?? ImageLimits.Default;
        l.CheckBytes(source, bytes.Length);
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data) ?? throw new DeemFormatException(source, "not a decodable image (PNG, JPEG, …)");
        int w = codec.Info.Width, h = codec.Info.Height;
        l.CheckSize(source, w, h);
        if (PngCheck.IsPng(bytes))
            PngCheck.Verify(new MemoryStream(bytes, writable: false), source);
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result == SKCodecResult.Success) return bitmap;
        bitmap.Dispose();
        throw new DeemFormatException(source, result == SKCodecResult.IncompleteInput
            ? "truncated image data (the decoder ran out of input)"
            : $"corrupt image data (decoder: {result})");
    }

    /// <summary>RGB bytes, row-major [H, W, 3].</summary>
    public static byte[] Rgb(SKBitmap bitmap)
    {
        int w = bitmap.Width, h = bitmap.Height;
        var px = bitmap.Pixels; // unpremultiplied SKColor per pixel
        var rgb = new byte[checked((long)h * w * 3)];
        for (int i = 0; i < px.Length; i++)
        {
            rgb[3 * i] = px[i].Red; rgb[3 * i + 1] = px[i].Green; rgb[3 * i + 2] = px[i].Blue;
        }
        return rgb;
    }

    /// <summary>[3, H, W] float32 in [0, 1].</summary>
    public static torch.Tensor ToTensor(SKBitmap bitmap)
    {
        using var scope = torch.NewDisposeScope();
        var hwc = torch.tensor(Rgb(bitmap), new long[] { bitmap.Height, bitmap.Width, 3 }, torch.ScalarType.Byte);
        var chw = hwc.permute(2, 0, 1).to(torch.ScalarType.Float32).div_(255f); // [3, H, W]
        return chw.contiguous().MoveToOuterDisposeScope();
    }
}
