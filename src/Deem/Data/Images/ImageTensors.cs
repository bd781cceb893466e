using Deem.Data.Formats;
using static TorchSharp.torch;

namespace Deem.Data.Images;

/// <summary>
/// Image files to float tensors and the geometric operations of DEEM's image transforms
/// (reference §5.1: "each in [0, 1], CHW float"; §5.3: region masks nearest-resized): decode PNG/JPEG
/// to [3, H, W] in [0, 1], center-crop to a square, resize (bilinear, antialiased, as torchvision's
/// tensor <c>Resize</c>), flip horizontally, and resize 0/1 masks with nearest sampling so they stay binary.
/// </summary>
public static class ImageTensors
{
    /// <summary>Decodes an image file to [3, H, W] float32 in [0, 1]; throws <see cref="DeemFormatException"/> when unreadable.</summary>
    public static Tensor Load(string path)
    {
        using var bmp = ImageFiles.Decode(path);
        return ImageFiles.ToTensor(bmp);
    }

    /// <summary>Decodes encoded bytes (a webdataset .jpg entry) to [3, H, W] float32 in [0, 1].</summary>
    public static Tensor Load(byte[] bytes, string source)
    {
        using var bmp = ImageFiles.Decode(bytes, source);
        return ImageFiles.ToTensor(bmp);
    }

    /// <summary>The centred square crop box (top, left, side) of an H×W image, rounded as torchvision's <c>center_crop</c>.</summary>
    public static (int Top, int Left, int Side) CenterSquare(long height, long width)
    {
        int side = (int)Math.Min(height, width);
        int top = (int)Math.Round((height - side) / 2.0, MidpointRounding.ToEven);
        int left = (int)Math.Round((width - side) / 2.0, MidpointRounding.ToEven);
        return (top, left, side);
    }

    /// <summary>[C, H, W] → [C, size, size]: the centred square crop (when <paramref name="centerCrop"/>) or the
    /// whole image (plain resize, aspect not kept), resized bilinearly with antialiasing, clamped to [0, 1].</summary>
    public static Tensor CropResize(Tensor image, int size, bool centerCrop)
    {
        using var scope = NewDisposeScope();
        CheckChw(image, nameof(image));
        var x = centerCrop ? Crop(image) : image;                                                // [C, h, w]
        var resized = nn.functional.interpolate(x.unsqueeze(0), size: [size, size],              // [1, C, size, size]
            mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
        return resized.squeeze(0).clamp(0, 1).contiguous().MoveToOuterDisposeScope();            // [C, size, size]
    }

    /// <summary>A 0/1 mask [H, W] or [1, H, W] → [1, size, size] with the same crop as <see cref="CropResize"/> and
    /// nearest sampling (values stay 0/1).</summary>
    public static Tensor CropResizeMask(Tensor mask, int size, bool centerCrop)
    {
        using var scope = NewDisposeScope();
        var m = mask.ndim == 2 ? mask.unsqueeze(0) : mask;                                       // [1, H, W]
        if (m.ndim != 3 || m.shape[0] != 1)
            throw new ArgumentException($"mask: expected [H, W] or [1, H, W], found [{string.Join(", ", mask.shape)}]", nameof(mask));
        m = m.to_type(ScalarType.Float32);
        if (centerCrop) m = Crop(m);                                                             // [1, s, s]
        var resized = nn.functional.interpolate(m.unsqueeze(0), size: [size, size], mode: InterpolationMode.Nearest); // [1, 1, size, size]
        return resized.squeeze(0).contiguous().MoveToOuterDisposeScope();                        // [1, size, size]
    }

    /// <summary>Mirror left ↔ right of a [C, H, W] tensor.</summary>
    public static Tensor FlipHorizontal(Tensor image) => image.flip(-1);

    static Tensor Crop(Tensor chw)
    {
        var (top, left, side) = CenterSquare(chw.shape[1], chw.shape[2]);
        return chw.narrow(1, top, side).narrow(2, left, side);                                   // [C, s, s]
    }

    static void CheckChw(Tensor t, string name)
    {
        if (t.ndim != 3)
            throw new ArgumentException($"{name}: expected [C, H, W], found [{string.Join(", ", t.shape)}]", name);
    }
}
