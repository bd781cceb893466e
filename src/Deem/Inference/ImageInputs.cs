using Deem.Data.Formats;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// Images and region masks into the encoder's view (reference §5.1: resize the shorter side to the
/// resolution, centre-crop a square; [3, R, R] in [0, 1]). A region mask goes through the same resize
/// and crop (nearest neighbour) after being brought to its image's size, so it stays aligned with the pixels.
/// </summary>
public static class ImageInputs
{
    /// <summary>Reads an image file (PNG, JPEG, …) as [3, H, W] in [0, 1]; a missing or corrupt file names the path.</summary>
    public static Tensor Read(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "image file not found");
        using var bitmap = ImageFiles.Decode(path);
        return ImageFiles.ToTensor(bitmap);
    }

    /// <summary>
    /// Shorter side to <paramref name="resolution"/> (bilinear), then the centre square: [3, H, W] → [3, R, R].
    /// The intermediate is R × (aspect·R): images from <see cref="Read"/> have passed
    /// <see cref="ImageLimits"/>, whose aspect-ratio bound keeps it at most 32·R² per channel.
    /// </summary>
    public static Tensor ToEncoderView(Tensor image, int resolution)
    {
        if (image.ndim != 3 || image.shape[0] != 3)
            throw new ArgumentException($"image: expected [3, H, W], found [{string.Join(", ", image.shape)}]", nameof(image));
        return ResizeCrop(image.to_type(ScalarType.Float32), resolution, InterpolationMode.Bilinear).clamp(0.0, 1.0);
    }

    /// <summary>
    /// A mask [H_m, W_m] (1 = region) aligned with an image of <paramref name="imageHeight"/>×<paramref name="imageWidth"/>:
    /// resized to the image (nearest) when its size differs, then resized and cropped like the image → [1, R, R].
    /// </summary>
    public static Tensor MaskToEncoderView(Tensor mask, long imageHeight, long imageWidth, int resolution)
    {
        using var scope = NewDisposeScope();
        var m = mask.to_type(ScalarType.Float32).unsqueeze(0).unsqueeze(0);                                        // [1, 1, H_m, W_m]
        if (m.shape[2] != imageHeight || m.shape[3] != imageWidth)
            m = nn.functional.interpolate(m, [imageHeight, imageWidth], mode: InterpolationMode.Nearest);           // [1, 1, H, W]
        var view = ResizeCrop(m.squeeze(0), resolution, InterpolationMode.Nearest);                                 // [1, R, R]
        return view.gt(0.5).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    static Tensor ResizeCrop(Tensor chw, int resolution, InterpolationMode mode)
    {
        using var scope = NewDisposeScope();
        var (H, W) = (chw.shape[1], chw.shape[2]);
        double s = (double)resolution / Math.Min(H, W);
        long h = Math.Max(resolution, (long)Math.Round(H * s)), w = Math.Max(resolution, (long)Math.Round(W * s));
        var x = chw.unsqueeze(0);                                                                                   // [1, C, H, W]
        if (h != H || w != W)
            x = mode == InterpolationMode.Nearest
                ? nn.functional.interpolate(x, [h, w], mode: mode)
                : nn.functional.interpolate(x, [h, w], mode: mode, align_corners: false);                          // [1, C, h, w]
        long top = (h - resolution) / 2, left = (w - resolution) / 2;
        var crop = x.narrow(2, top, resolution).narrow(3, left, resolution);                                        // [1, C, R, R]
        return crop.squeeze(0).contiguous().MoveToOuterDisposeScope();                                              // [C, R, R]
    }
}
