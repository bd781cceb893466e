using Deem.Data.Formats;
using static TorchSharp.torch;

namespace Deem.Data.Images;

/// <summary>One image after the dual transform: the encoder view [3, Se, Se] and the decoder view
/// [3, Sd, Sd], row-major float32 in [0, 1], kept as managed arrays so buffered images never belong
/// to a tensor dispose scope.</summary>
public sealed record ImagePair(float[] Encoder, int EncoderSize, float[] Decoder, int DecoderSize);

/// <summary>
/// DEEM's dual image transform (reference §5.1 "dual transform", §3 table: stage 1 center-crop 256 /
/// 512 with random flip; SFT stages plain resize 448 / 512, no flip): the same image is made into an
/// encoder-resolution view (ConvNeXt, CSR target) and a decoder-resolution view (NIP target).
/// <para>
/// The flip is decided once per image by the caller and applied to both views (and to region
/// masks). The authors draw the flip independently for each resolution, so their two views disagree
/// half the time (reference §8 item 4); that looks unintended and we do not copy it.
/// </para>
/// </summary>
/// <param name="EncoderResolution">Side of the encoder view.</param>
/// <param name="DecoderResolution">Side of the decoder view.</param>
/// <param name="CenterCrop">Center-crop to a square before resizing (stage 1) or resize the whole image (SFT).</param>
public sealed record DualTransform(int EncoderResolution, int DecoderResolution, bool CenterCrop)
{
    /// <summary>Both views of a [3, H, W] image in [0, 1], mirrored together when <paramref name="flip"/>.</summary>
    public ImagePair Apply(Tensor image, bool flip)
    {
        using var scope = NewDisposeScope();
        var enc = ImageTensors.CropResize(image, EncoderResolution, CenterCrop);                 // [3, Se, Se]
        var dec = ImageTensors.CropResize(image, DecoderResolution, CenterCrop);                 // [3, Sd, Sd]
        if (flip) { enc = ImageTensors.FlipHorizontal(enc); dec = ImageTensors.FlipHorizontal(dec); }
        return new ImagePair(enc.contiguous().data<float>().ToArray(), EncoderResolution,
            dec.contiguous().data<float>().ToArray(), DecoderResolution);
    }

    /// <summary>A region mask (0/1 [H, W] of the original image) at encoder resolution [1, Se, Se], with the same crop and flip.</summary>
    public Tensor ApplyMask(Tensor mask, bool flip)
    {
        using var scope = NewDisposeScope();
        var m = ImageTensors.CropResizeMask(mask, EncoderResolution, CenterCrop);                // [1, Se, Se]
        if (flip) m = ImageTensors.FlipHorizontal(m);
        return m.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Decodes and transforms <paramref name="image"/>; an unreadable image is counted in
    /// <paramref name="skips"/> as "unreadable image" and gives null (strict: throws naming the file).</summary>
    public ImagePair? TryLoad(ImageRef image, SkipCounter skips)
    {
        using var scope = NewDisposeScope();
        Tensor pixels;
        try { pixels = image.Bytes is { } b ? ImageTensors.Load(b, image.Describe()) : ImageTensors.Load(image.Source); }
        catch (DeemFormatException e)
        {
            skips.Skip(image.Source, image.Key, "unreadable image", e.Message, e);
            return null;
        }
        return Apply(pixels, image.Flip);
    }
}
