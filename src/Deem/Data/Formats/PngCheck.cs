using System.Buffers.Binary;
using System.IO.Compression;

namespace Deem.Data.Formats;

/// <summary>
/// A complete structural check of a PNG before it is trusted (PNG spec §5, §7, §9): chunk layout and
/// CRCs through IEND, a zlib stream that inflates to exactly the scanlines the IHDR promises (Adam7
/// passes included), known filter types, and palette indices inside PLTE. Decoders pad a short image
/// with black rows and map stray palette indices to a colour, so none of these faults would surface.
/// </summary>
public static class PngCheck
{
    static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];
    static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>True when <paramref name="head"/> starts with the PNG signature.</summary>
    public static bool IsPng(ReadOnlySpan<byte> head) => head.Length >= 8 && head[..8].SequenceEqual(Signature);

    /// <summary>Reads the whole PNG in <paramref name="png"/>; throws <see cref="DeemFormatException"/> naming <paramref name="source"/> at the first fault.</summary>
    public static void Verify(Stream png, string source)
    {
        var sig = new byte[8];
        if (png.ReadAtLeast(sig, 8, throwOnEndOfStream: false) < 8 || !IsPng(sig)) throw Bad(source, "not a PNG (bad signature)");
        var idat = new MemoryStream();
        int width = 0, height = 0, depth = 0, colorType = -1, interlace = 0, paletteSize = 0;
        var head = new byte[8];
        for (var first = true; ; first = false)
        {
            if (png.ReadAtLeast(head, 8, throwOnEndOfStream: false) < 8) throw Bad(source, "truncated PNG (no IEND chunk)");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(head);
            string type = System.Text.Encoding.ASCII.GetString(head, 4, 4);
            if (length > int.MaxValue) throw Bad(source, $"PNG chunk '{type}' claims {length} bytes");
            var data = new byte[length + 4];
            if (png.ReadAtLeast(data, data.Length, throwOnEndOfStream: false) < data.Length) throw Bad(source, $"truncated PNG (inside chunk '{type}')");
            uint crc = Crc(Crc(0xFFFFFFFFu, head.AsSpan(4, 4)), data.AsSpan(0, (int)length)) ^ 0xFFFFFFFFu;
            if (crc != BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan((int)length))) throw Bad(source, $"PNG chunk '{type}' fails its CRC");
            if (first != (type == "IHDR")) throw Bad(source, "PNG does not start with IHDR");
            switch (type)
            {
                case "IHDR":
                    if (length != 13) throw Bad(source, "PNG IHDR is not 13 bytes");
                    width = (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32BigEndian(data));
                    height = (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(4)));
                    (depth, colorType, interlace) = (data[8], data[9], data[12]);
                    if (Channels(colorType) == 0 || depth is not (1 or 2 or 4 or 8 or 16) || interlace > 1)
                        throw Bad(source, $"PNG IHDR has colour type {colorType}, bit depth {depth}, interlace {interlace}");
                    break;
                case "PLTE": paletteSize = (int)length / 3; break;
                case "IDAT": idat.Write(data, 0, (int)length); break;
                case "IEND": CheckPixels(source, idat, width, height, depth, colorType, interlace, paletteSize); return;
            }
        }
    }

    static void CheckPixels(string source, MemoryStream idat, int width, int height, int depth, int colorType, int interlace, int paletteSize)
    {
        if (colorType == 3 && paletteSize == 0) throw Bad(source, "palette PNG without a PLTE chunk");
        int bitsPerPixel = depth * Channels(colorType), bpp = Math.Max(1, bitsPerPixel / 8);
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        // Adam7 passes: (x0, y0, dx, dy); a plain image is one pass of every pixel.
        (int X0, int Y0, int Dx, int Dy)[] passes = interlace == 0 ? [(0, 0, 1, 1)]
            : [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
        try
        {
            foreach (var (x0, y0, dx, dy) in passes)
            {
                long w = (width - x0 + dx - 1) / dx, h = (height - y0 + dy - 1) / dy;
                if (w <= 0 || h <= 0) continue;
                int rowBytes = (int)((w * bitsPerPixel + 7) / 8);
                byte[] up = new byte[rowBytes], cur = new byte[rowBytes], row = new byte[rowBytes + 1];
                for (long y = 0; y < h; y++)
                {
                    if (z.ReadAtLeast(row, row.Length, throwOnEndOfStream: false) < row.Length)
                        throw Bad(source, $"PNG image data ends early (row {y} of {h}): truncated or short IDAT");
                    Unfilter(source, row, up, cur, bpp);
                    if (colorType == 3) CheckIndices(source, cur, w, depth, paletteSize);
                    (up, cur) = (cur, up);
                }
            }
        }
        catch (InvalidDataException e) { throw Bad(source, $"corrupt zlib data in PNG IDAT ({e.Message})"); }
    }

    /// <summary>Undoes the filter of <paramref name="row"/> (filter byte + data, PNG §9.2) against the previous unfiltered row <paramref name="up"/>, into <paramref name="cur"/>.</summary>
    static void Unfilter(string source, byte[] row, byte[] up, byte[] cur, int bpp)
    {
        int filter = row[0];
        if (filter > 4) throw Bad(source, $"PNG row has unknown filter type {filter}");
        for (int i = 0; i < cur.Length; i++)
        {
            int a = i >= bpp ? cur[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0, x = row[i + 1];
            cur[i] = (byte)(filter switch
            {
                0 => x,
                1 => x + a,
                2 => x + b,
                3 => x + (a + b) / 2,
                _ => x + Paeth(a, b, c),
            });
        }
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    static void CheckIndices(string source, byte[] row, long width, int depth, int paletteSize)
    {
        int perByte = 8 / depth, mask = (1 << depth) - 1;
        for (long x = 0; x < width; x++)
        {
            int index = (row[x / perByte] >> (8 - depth * (int)(x % perByte + 1))) & mask;
            if (index >= paletteSize) throw Bad(source, $"PNG palette index {index} is outside its {paletteSize}-colour PLTE");
        }
    }

    static int Channels(int colorType) => colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };

    static DeemFormatException Bad(string source, string message) => new(source, message);

    static uint Crc(uint crc, ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }
}
