using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Deem.Data.Formats;

/// <summary>
/// The raw lines of a JSONL stream, split on '\n' as bytes (a trailing '\r' and a leading UTF-8 BOM are
/// dropped), so an invalid UTF-8 line is found at its own line number instead of being replaced by U+FFFD
/// inside a decoder buffer: it is skipped and counted as "invalid utf-8", or in strict mode an error
/// naming file and line. Blank lines are passed over.
/// </summary>
public static class JsonLines
{
    /// <summary>(1-based line number, the line's bytes) for every non-blank valid UTF-8 line.</summary>
    public static IEnumerable<(int Line, byte[] Bytes)> Read(Stream stream, string file, SkipCounter skips)
    {
        var line = new MemoryStream();
        int lineNo = 0;
        var buffer = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            for (int i = 0; i < n; i++)
            {
                if (buffer[i] != (byte)'\n') continue;
                line.Write(buffer, start, i - start);
                start = i + 1;
                if (Finish(line, ++lineNo, file, skips) is { } bytes) yield return (lineNo, bytes);
            }
            line.Write(buffer, start, n - start);
        }
        if (line.Length > 0 && Finish(line, ++lineNo, file, skips) is { } last) yield return (lineNo, last);
    }

    static byte[]? Finish(MemoryStream line, int lineNo, string file, SkipCounter skips)
    {
        var span = line.GetBuffer().AsSpan(0, (int)line.Length);
        if (lineNo == 1 && span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
        if (span.Length > 0 && span[^1] == (byte)'\r') span = span[..^1];
        byte[]? result = null;
        if (!Utf8.IsValid(span))
            skips.Skip(file, $"line {lineNo}", "invalid utf-8", $"not valid UTF-8 near byte {FirstInvalid(span)} of the line");
        else if (span.IndexOfAnyExcept((byte)' ', (byte)'\t', (byte)'\r') >= 0)
            result = span.ToArray();
        line.SetLength(0);
        return result;
    }

    static int FirstInvalid(ReadOnlySpan<byte> span)
    {
        int i = 0;
        while (i < span.Length && Rune.DecodeFromUtf8(span[i..], out _, out int used) == OperationStatus.Done) i += used;
        return i;
    }
}
