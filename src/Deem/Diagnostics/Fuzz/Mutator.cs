using System.Text;

namespace Deem.Diagnostics.Fuzz;

/// <summary>
/// Seeded input mutations: bit flips, byte sets, truncation, deletion, duplication, splices from another
/// seed, and numeric field edits (an ASCII number replaced by a boundary value; a binary integer overwritten
/// with one). One to three mutations per case; the same seed gives the same bytes.
/// </summary>
public sealed class Mutator
{
    static readonly string[] Numbers =
    [
        "0", "-1", "1", "2", "7", "255", "256", "-256", "65535", "65536", "2147483647", "2147483648", "-2147483648",
        "4294967295", "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "18446744073709551615", "1e308", "-1e308", "1e-300", "NaN", "0.5", "-0", "100000000", "99999999999999999999999",
    ];

    static readonly long[] BinaryValues =
        [0, -1, 1, 8, 255, 0x7F, 0x80, 0xFFFF, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue, 100_000_000, 1L << 40];

    readonly Random _rng;

    public Mutator(int seed) { _rng = new Random(seed); }

    /// <summary>A mutated copy of <paramref name="input"/>; <paramref name="seeds"/> supply splice material.</summary>
    public byte[] Mutate(byte[] input, IReadOnlyList<byte[]> seeds)
    {
        var b = new List<byte>(input);
        int n = 1 + _rng.Next(3);
        for (int i = 0; i < n; i++) Once(b, seeds);
        return b.ToArray();
    }

    void Once(List<byte> b, IReadOnlyList<byte[]> seeds)
    {
        switch (_rng.Next(9))
        {
            case 0: // bit flips
            case 1:
                if (b.Count == 0) break;
                for (int k = 1 + _rng.Next(8); k > 0; k--) { int at = _rng.Next(b.Count); b[at] ^= (byte)(1 << _rng.Next(8)); }
                break;
            case 2: // byte set
                if (b.Count == 0) break;
                b[_rng.Next(b.Count)] = (byte)(_rng.Next(4) switch { 0 => 0, 1 => 0xFF, 2 => 0x7F, _ => 0x80 });
                break;
            case 3: // truncation
                if (b.Count > 0) { int len = _rng.Next(b.Count); b.RemoveRange(len, b.Count - len); }
                break;
            case 4: // delete a range
                if (b.Count > 1) { int at = _rng.Next(b.Count), len = 1 + _rng.Next(Math.Min(64, b.Count - at)); b.RemoveRange(at, len); }
                break;
            case 5: // duplicate a range in place
                if (b.Count > 1) { int at = _rng.Next(b.Count), len = 1 + _rng.Next(Math.Min(64, b.Count - at)); b.InsertRange(at, b.GetRange(at, len)); }
                break;
            case 6: // splice a range of another seed over or into this one
            {
                var other = seeds[_rng.Next(seeds.Count)];
                if (other.Length == 0) break;
                int from = _rng.Next(other.Length), len = 1 + _rng.Next(Math.Min(128, other.Length - from));
                int at = b.Count == 0 ? 0 : _rng.Next(b.Count);
                if (_rng.Next(2) == 0 && at + len <= b.Count) for (int k = 0; k < len; k++) b[at + k] = other[from + k];
                else b.InsertRange(at, other.AsSpan(from, len).ToArray());
                break;
            }
            case 7: // ASCII number edit
                EditNumber(b);
                break;
            default: // binary integer edit (biased to the start, where length fields live)
            {
                if (b.Count < 8) break;
                int at = _rng.Next(3) == 0 ? 0 : _rng.Next(b.Count - 7);
                long v = BinaryValues[_rng.Next(BinaryValues.Length)];
                int width = _rng.Next(2) == 0 ? 8 : 4;
                for (int k = 0; k < width; k++) b[at + k] = (byte)(v >> (8 * k));
                break;
            }
        }
    }

    void EditNumber(List<byte> b)
    {
        var runs = new List<(int Start, int Length)>();
        for (int i = 0; i < b.Count;)
        {
            if (b[i] is >= (byte)'0' and <= (byte)'9')
            {
                int s = i > 0 && b[i - 1] == (byte)'-' ? i - 1 : i;
                while (i < b.Count && (b[i] is >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'e' or (byte)'E')) i++;
                runs.Add((s, i - s));
            }
            else i++;
        }
        if (runs.Count == 0) return;
        var (start, length) = runs[_rng.Next(runs.Count)];
        b.RemoveRange(start, length);
        b.InsertRange(start, Encoding.ASCII.GetBytes(Numbers[_rng.Next(Numbers.Length)]));
    }
}
