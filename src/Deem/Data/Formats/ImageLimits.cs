namespace Deem.Data.Formats;

/// <summary>
/// Bounds every image must meet before its pixels are decoded; checked from the file size and the
/// header (PNG IHDR, JPEG SOF), so a small file that claims a huge image costs nothing.
/// <para>
/// Memory stays bounded through the whole path: decoding takes at most 4·<see cref="MaxPixels"/>
/// bytes (RGBA8888), the [3, H, W] float tensor 12·<see cref="MaxPixels"/> bytes, and the encoder
/// view (shorter side scaled to R, then the centre square, reference §5.1) at most
/// 3·R·(<see cref="MaxAspectRatio"/>·R) floats, because an image whose long side exceeds
/// <see cref="MaxAspectRatio"/> times its short side is refused rather than scaled up
/// (a 1×65535 strip would otherwise become R×65535·R).
/// </para>
/// </summary>
/// <param name="MaxBytes">Largest encoded file accepted (bytes).</param>
/// <param name="MaxPixels">Largest width × height accepted.</param>
/// <param name="MaxAspectRatio">Largest long side / short side accepted.</param>
public sealed record ImageLimits(long MaxBytes, long MaxPixels, double MaxAspectRatio)
{
    /// <summary>64 MiB, 50 megapixels (8660×5773 photos pass; 12000×12000 does not), 32:1.</summary>
    public static ImageLimits Default { get; } = new(64L << 20, 50_000_000, 32.0);

    /// <summary>Throws naming <paramref name="source"/> when an encoded size of <paramref name="bytes"/> is over budget.</summary>
    public void CheckBytes(string source, long bytes)
    {
        if (bytes > MaxBytes)
            throw new DeemFormatException(source, $"image file is {bytes:N0} bytes, more than the {MaxBytes:N0}-byte limit");
    }

    /// <summary>Throws naming <paramref name="source"/> when a header's <paramref name="width"/>×<paramref name="height"/> is out of bounds.</summary>
    public void CheckSize(string source, long width, long height)
    {
        if (width <= 0 || height <= 0)
            throw new DeemFormatException(source, $"image header gives an empty size {width}×{height}");
        if (width * height > MaxPixels)
            throw new DeemFormatException(source, $"image is {width}×{height} = {width * height:N0} pixels, more than the {MaxPixels:N0}-pixel limit");
        double aspect = (double)Math.Max(width, height) / Math.Min(width, height);
        if (aspect > MaxAspectRatio)
            throw new DeemFormatException(source, $"image is {width}×{height}, an aspect ratio of {aspect:0.#}:1, beyond the {MaxAspectRatio:0.#}:1 limit");
    }
}
