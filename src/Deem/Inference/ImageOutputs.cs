using Deem.Data.Formats;
using SkiaSharp;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>Generated pixels out: [3, H, W] in [0, 1] → 8-bit RGBA bitmap → PNG (SkiaSharp, deterministic bytes).</summary>
public static class ImageOutputs
{
    /// <summary>An opaque bitmap of a [3, H, W] image in [0, 1] (rounded to 8 bits).</summary>
    public static SKBitmap ToBitmap(Tensor image)
    {
        if (image.ndim != 3 || image.shape[0] != 3)
            throw new ArgumentException($"image: expected [3, H, W], found [{string.Join(", ", image.shape)}]", nameof(image));
        using var scope = NewDisposeScope();
        var (H, W) = ((int)image.shape[1], (int)image.shape[2]);
        var hwc = (image.to_type(ScalarType.Float32).clamp(0.0, 1.0) * 255.0).round().to_type(ScalarType.Byte)
            .permute(1, 2, 0).contiguous();                                                             // [H, W, 3]
        var rgb = hwc.data<byte>().ToArray();
        var bitmap = new SKBitmap(new SKImageInfo(W, H, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var pixels = new SKColor[H * W];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = new SKColor(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255);
        bitmap.Pixels = pixels;
        return bitmap;
    }

    /// <summary>PNG bytes of a [3, H, W] image in [0, 1].</summary>
    public static byte[] Png(Tensor image)
    {
        using var bitmap = ToBitmap(image);
        return ImageFiles.Encode(bitmap, ".png");
    }

    /// <summary>Writes a [3, H, W] image as PNG (the folder is created).</summary>
    public static void SavePng(Tensor image, string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllBytes(path, Png(image));
    }
}
