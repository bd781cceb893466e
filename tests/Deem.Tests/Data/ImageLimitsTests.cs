using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Deem.Data.Formats;
using SkiaSharp;

namespace Deem.Tests.Data;

/// <summary>
/// Images are bounded and trusted only when complete: size budgets from the header before any decode,
/// and truncated or corrupt PNG/JPEG data is a one-line error naming the file. The bad files are made
/// here byte by byte.
/// </summary>
public class ImageLimitsTests
{
    // ---- a minimal PNG writer: chunks with CRCs, scanlines with filter byte 0 ----

    static uint Crc(byte[] bytes)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFFu;
    }

    static void Chunk(Stream s, string type, byte[] data)
    {
        var head = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(head, (uint)data.Length);
        s.Write(head);
        var body = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(body);
        BinaryPrimitives.WriteUInt32BigEndian(head, Crc(body));
        s.Write(head);
    }

    static byte[] Zlib(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
        return ms.ToArray();
    }

    /// <summary>A PNG of <paramref name="w"/>×<paramref name="h"/> whose IDAT holds <paramref name="idat"/> as given.</summary>
    static byte[] Png(uint w, uint h, int colorType, byte[] idat, byte[]? plte = null, int depth = 8)
    {
        var s = new MemoryStream();
        s.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = (byte)depth;
        ihdr[9] = (byte)colorType;
        Chunk(s, "IHDR", ihdr);
        if (plte is not null) Chunk(s, "PLTE", plte);
        Chunk(s, "IDAT", idat);
        Chunk(s, "IEND", []);
        return s.ToArray();
    }

    /// <summary>Raw scanlines (filter 0) of an 8-bit image with <paramref name="channels"/> channels, pixel bytes from <paramref name="value"/>.</summary>
    static byte[] Rows(int w, int h, int channels, Func<int, int, byte> value)
    {
        var raw = new byte[h * (1 + w * channels)];
        for (int y = 0, i = 0; y < h; y++)
        {
            raw[i++] = 0;
            for (int x = 0; x < w * channels; x++) raw[i++] = value(y, x);
        }
        return raw;
    }

    static byte[] Skia(string ext, int w = 64, int h = 48)
    {
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var rng = new Random(5);
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            bmp.SetPixel(x, y, new SKColor((byte)rng.Next(256), (byte)(x * 4), (byte)(y * 5), 255));
        return ImageFiles.Encode(bmp, ext);
    }

    static DeemFormatException Rejects(byte[] bytes, string name, string expected)
    {
        var e = Assert.Throws<DeemFormatException>(() => ImageFiles.Decode(bytes, name).Dispose());
        Assert.StartsWith(name + ":", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void WellFormedImagesDecodeToTheirPixels()
    {
        // Skia's own PNG (all filter types) and JPEG, a hand-made RGB PNG and an in-range palette PNG.
        foreach (var ext in new[] { ".png", ".jpg" })
        {
            using var bmp = ImageFiles.Decode(Skia(ext), "ok" + ext);
            Assert.Equal((64, 48), (bmp.Width, bmp.Height));
        }
        var rgb = Png(3, 2, 2, Zlib(Rows(3, 2, 3, (y, x) => (byte)(10 * y + x))));
        using (var bmp = ImageFiles.Decode(rgb, "rgb.png"))
            Assert.Equal(new SKColor(10 + 3, 10 + 4, 10 + 5, 255), bmp.GetPixel(1, 1));
        var palette = Png(4, 2, 3, Zlib(Rows(4, 2, 1, (y, x) => (byte)((x + y) % 3))), plte: [255, 0, 0, 0, 255, 0, 0, 0, 255]);
        using (var bmp = ImageFiles.Decode(palette, "palette.png"))
            Assert.Equal(new SKColor(0, 0, 255, 255), bmp.GetPixel(1, 1));
    }

    /// <summary>A valid 1×65535 greyscale PNG (a few KB).</summary>
    public static byte[] StripPng() => Png(1, 65535, 0, Zlib(new byte[65535 * 2]));

    /// <summary>A ~100-byte PNG whose IHDR claims 16000×16000 RGB.</summary>
    public static byte[] HugeHeaderPng() => Png(16000, 16000, 2, Zlib(new byte[16]));

    [Fact]
    public void AStripOf1By65535IsRefusedByItsAspectRatio()
    {
        var strip = StripPng();
        Assert.True(strip.Length < 4096);
        Rejects(strip, "strip.png", "aspect ratio of 65535:1, beyond the 32:1 limit");
    }

    [Fact]
    public void AHeaderClaiming16000By16000IsRefusedBeforeDecoding()
    {
        var liar = HugeHeaderPng();
        Assert.True(liar.Length < 200);
        Rejects(liar, "liar.png", "256,000,000 pixels, more than the 50,000,000-pixel limit");
        var jpegLiar = Skia(".jpg");
        // A JPEG's SOF0 frame header carries height then width as big-endian 16-bit numbers.
        int sof = Enumerable.Range(0, jpegLiar.Length - 1).First(i => jpegLiar[i] == 0xFF && jpegLiar[i + 1] == 0xC0);
        BinaryPrimitives.WriteUInt16BigEndian(jpegLiar.AsSpan(sof + 5), 16000);
        BinaryPrimitives.WriteUInt16BigEndian(jpegLiar.AsSpan(sof + 7), 16000);
        Rejects(jpegLiar, "liar.jpg", "pixel limit");
    }

    [Fact]
    public void TheByteBudgetIsCheckedFirst()
    {
        var small = new ImageLimits(MaxBytes: 100, MaxPixels: 1000, MaxAspectRatio: 4);
        var e = Assert.Throws<DeemFormatException>(() => ImageFiles.Decode(Skia(".png"), "big.png", small));
        Assert.Contains("more than the 100-byte limit", e.Message);
    }

    [Fact]
    public void EveryTruncationOfAPngOrJpegIsAnErrorNamingTheFile()
    {
        foreach (var ext in new[] { ".png", ".jpg" })
        {
            var whole = Skia(ext);
            // Cut at 24 points through the file, header to last byte (a JPEG cut in its last two bytes only loses EOI).
            int end = ext == ".png" ? whole.Length - 1 : whole.Length - 2;
            for (int k = 1; k <= 24; k++)
            {
                int cut = (int)((long)end * k / 24);
                var name = $"cut-{cut}{ext}";
                var e = Assert.Throws<DeemFormatException>(() => ImageFiles.Decode(whole[..cut], name).Dispose());
                Assert.StartsWith(name + ":", e.Message);
            }
        }
    }

    [Fact]
    public void ATruncatedFileOnDiskIsNamedByItsPath()
    {
        using var dir = new TempDir();
        var path = dir["half.jpg"];
        var whole = Skia(".jpg");
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        var e = Assert.Throws<DeemFormatException>(() => ImageFiles.Decode(path).Dispose());
        Assert.StartsWith(path + ": truncated image data", e.Message);
    }

    [Fact]
    public void BadZlibShortIdatAndStrayPaletteIndicesAreCaught()
    {
        var rows = Rows(8, 8, 3, (y, x) => (byte)(y * x));
        var z = Zlib(rows);
        var badZlib = (byte[])z.Clone();
        badZlib[0] = 0x78; badZlib[1] = 0x00;                                           // header check bits wrong
        Rejects(Png(8, 8, 2, badZlib), "zlib.png", "zlib");
        var garbage = (byte[])z.Clone();
        for (int i = 2; i < garbage.Length - 4; i++) garbage[i] = 0xFF;                   // invalid deflate blocks
        Rejects(Png(8, 8, 2, garbage), "deflate.png", "PNG");
        Rejects(Png(8, 8, 2, Zlib(rows[..(rows.Length / 2)])), "short.png", "ends early (row 4 of 8)");
        Rejects(Png(8, 8, 2, z[..(z.Length / 2)]), "cut-zlib.png", "PNG image data");

        var indices = Rows(4, 2, 1, (y, x) => (byte)(y == 1 && x == 3 ? 5 : 0));
        Rejects(Png(4, 2, 3, Zlib(indices), plte: [0, 0, 0, 255, 255, 255]), "palette.png", "palette index 5 is outside its 2-colour PLTE");

        var filter = Rows(8, 8, 3, (_, _) => 1);
        filter[0] = 9;
        Rejects(Png(8, 8, 2, Zlib(filter)), "filter.png", "unknown filter type 9");

        var crc = Png(8, 8, 2, z);
        crc[^20] ^= 0x55;                                                                 // inside IDAT, CRC now wrong
        Rejects(crc, "crc.png", "CRC");
    }
}
