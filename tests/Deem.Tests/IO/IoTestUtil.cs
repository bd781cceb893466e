using System.Buffers.Binary;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.IO;

static class IoTestUtil
{
    /// <summary>A tensor whose raw bytes are exactly <paramref name="raw"/>.</summary>
    public static Tensor FromBytes(byte[] raw, ScalarType dtype, params long[] shape)
    {
        var t = torch.empty(shape, dtype, torch.CPU);
        if (raw.Length > 0) t.bytes = raw;
        return t;
    }

    /// <summary>The raw bytes of a CPU tensor (copied).</summary>
    public static byte[] Raw(Tensor t) => t.numel() == 0 ? [] : t.contiguous().bytes.ToArray();

    /// <summary>A safetensors file built by hand: declared header length, header text, data bytes.</summary>
    public static byte[] Safetensors(string header, byte[] data, ulong? declaredLength = null, bool pad = true)
    {
        var h = Encoding.UTF8.GetBytes(header).ToList();
        while (pad && h.Count % 8 != 0) h.Add((byte)' ');
        var bytes = new byte[8 + h.Count + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)h.Count);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Count);
        return bytes;
    }

    /// <summary>Same dtype, shape and bits.</summary>
    public static bool Same(Tensor a, Tensor b) =>
        a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && Raw(a.cpu()).SequenceEqual(Raw(b.cpu()));

    public static byte[] F32(params float[] xs) => xs.SelectMany(BitConverter.GetBytes).ToArray();
}
