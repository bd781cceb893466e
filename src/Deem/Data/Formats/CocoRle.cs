using System.Text;

namespace Deem.Data.Formats;

/// <summary>
/// COCO run-length encoding (pycocotools <c>maskApi.c</c> semantics, written here from the format's
/// definition): the mask is scanned in column-major (Fortran) order, counts alternate 0-runs and
/// 1-runs starting with a (possibly empty) 0-run. The compressed string form stores each count
/// (from the third on, as the difference to the count two before) in 5-bit little-endian groups,
/// 0x20 = "more follows", 0x10 of the last group = sign, each group offset by 48 into printable ASCII.
/// </summary>
public sealed record CocoRle(int Height, int Width, long[] Counts)
{
    /// <summary>Encodes a row-major [H, W] 0/1 mask.</summary>
    public static CocoRle Encode(byte[] mask, int height, int width)
    {
        if (mask.Length != height * width) throw new ArgumentException($"mask has {mask.Length} pixels, expected {height}×{width}", nameof(mask));
        var counts = new List<long>();
        byte current = 0;
        long run = 0;
        for (int x = 0; x < width; x++)
            for (int y = 0; y < height; y++)
            {
                byte v = mask[y * width + x] != 0 ? (byte)1 : (byte)0;
                if (v != current) { counts.Add(run); run = 0; current = v; }
                run++;
            }
        counts.Add(run);
        return new CocoRle(height, width, counts.ToArray());
    }

    /// <summary>Decodes to a row-major [H, W] 0/1 mask; throws if the counts do not sum to H·W.</summary>
    public byte[] Decode()
    {
        long total = Counts.Sum();
        if (total != (long)Height * Width) throw new FormatException($"RLE counts sum to {total}, expected {Height}×{Width} = {Height * Width}");
        var mask = new byte[Height * Width];
        long pos = 0;
        for (int i = 0; i < Counts.Length; i++)
        {
            if (Counts[i] < 0) throw new FormatException($"RLE count {i} is negative");
            if (i % 2 == 1)
                for (long k = pos; k < pos + Counts[i]; k++)
                {
                    long x = k / Height, y = k % Height;
                    mask[y * Width + x] = 1;
                }
            pos += Counts[i];
        }
        return mask;
    }

    public long Area => Counts.Where((_, i) => i % 2 == 1).Sum();

    /// <summary>The compressed COCO string form of <see cref="Counts"/>.</summary>
    public string ToCompressedString()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < Counts.Length; i++)
        {
            long x = Counts[i];
            if (i > 2) x -= Counts[i - 2];
            bool more = true;
            while (more)
            {
                long c = x & 0x1f;
                x >>= 5; // arithmetic shift keeps the sign
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more) c |= 0x20;
                sb.Append((char)(c + 48));
            }
        }
        return sb.ToString();
    }

    /// <summary>Parses the compressed string form.</summary>
    public static CocoRle FromCompressedString(string s, int height, int width)
    {
        var counts = new List<long>();
        int p = 0;
        while (p < s.Length)
        {
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= s.Length) throw new FormatException("RLE string ends inside a count");
                long c = s[p] - 48;
                if (c < 0 || c > 63) throw new FormatException($"RLE string has an invalid character '{s[p]}' at {p}");
                x |= (c & 0x1f) << (5 * k);
                more = (c & 0x20) != 0;
                p++; k++;
                if (!more && (c & 0x10) != 0) x |= -1L << (5 * k);
            }
            if (counts.Count > 2) x += counts[^2];
            counts.Add(x);
        }
        return new CocoRle(height, width, counts.ToArray());
    }
}
