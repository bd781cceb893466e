using Deem.Data.Images;
using static TorchSharp.torch;

namespace Deem.Tests.Data.Pipeline;

public class ImageTransformTests
{
    /// <summary>[3, 4, 8]: columns 0–3 dark, 4–7 bright, so the centred 4×4 crop is columns 2–5.</summary>
    static Tensor HalfImage()
    {
        var x = zeros(3, 4, 8);
        x[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(4, 8)] = ones(3, 4, 4);
        return x;
    }

    [Fact]
    public void CenterCropKeepsTheMiddleSquareAndFlipMirrorsBothViews()
    {
        using var scope = NewDisposeScope();
        Assert.Equal((0, 2, 4), ImageTensors.CenterSquare(4, 8));
        Assert.Equal((3, 0, 5), ImageTensors.CenterSquare(11, 5));
        var t = new DualTransform(4, 8, CenterCrop: true);
        var p = t.Apply(HalfImage(), flip: false);
        var enc = tensor(p.Encoder, [3, 4, 4]);
        float[] row = [0, 0, 1, 1];
        Assert.Equal(row, enc[0, 0].data<float>().ToArray()); // same size: the crop itself
        var f = t.Apply(HalfImage(), flip: true);
        Assert.Equal(row.Reverse(), tensor(f.Encoder, [3, 4, 4])[1, 2].data<float>().ToArray());
        var dec = tensor(p.Decoder, [3, 8, 8]);
        var decFlipped = tensor(f.Decoder, [3, 8, 8]);
        Assert.True(decFlipped.equal(dec.flip(-1)).all().item<bool>());
        Assert.True(dec[0, 0, 0].item<float>() < 0.01f && dec[0, 0, 7].item<float>() > 0.99f);
        // Plain resize keeps the whole width.
        var plain = tensor(new DualTransform(4, 4, CenterCrop: false).Apply(HalfImage(), false).Encoder, [3, 4, 4]);
        var r = plain[2, 3].data<float>().ToArray(); // antialiased 2× downscale of the dark | bright edge
        Assert.Equal(0f, r[0], 1e-6f);
        Assert.Equal(1f, r[3], 1e-6f);
        Assert.Equal(1f, r[1] + r[2], 1e-6f);
        Assert.InRange(r[1], 0.01f, 0.49f);
    }

    [Fact]
    public void MasksResizeNearestAndStayBinary()
    {
        using var scope = NewDisposeScope();
        var mask = zeros(6, 6, dtype: ScalarType.Byte);
        mask[TensorIndex.Slice(0, 3), TensorIndex.Slice(0, 3)] = ones(3, 3, dtype: ScalarType.Byte);
        var m = new DualTransform(12, 12, CenterCrop: false).ApplyMask(mask, flip: false);
        Assert.Equal([1, 12, 12], m.shape);
        Assert.Equal(36f, m.sum().item<float>());           // the 3×3 block becomes 6×6
        Assert.Equal(1f, m[0, 5, 5].item<float>());
        Assert.Equal(0f, m[0, 6, 6].item<float>());
        var flipped = new DualTransform(12, 12, CenterCrop: false).ApplyMask(mask, flip: true);
        Assert.Equal(1f, flipped[0, 0, 11].item<float>());
        Assert.Equal(0f, flipped[0, 0, 0].item<float>());
        var values = m.unique().Item1.data<float>().ToArray();
        Assert.Equal([0f, 1f], values);
    }
}
