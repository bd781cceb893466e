using System.Text;

namespace Deem.Benchmarks;

/// <summary>
/// A minimal RFC 4180 CSV reader for benchmark tables (MMVP's <c>Questions.csv</c>, reference §6.3):
/// comma separated, fields optionally in double quotes, "" for a quote inside quotes, quoted fields may
/// span lines, CRLF or LF line ends.
/// </summary>
public static class Csv
{
    /// <summary>Splits <paramref name="text"/> into rows of fields; a quote left open is a
    /// <see cref="DeemFormatException"/> naming <paramref name="source"/> and the line it opened on.</summary>
    public static List<List<string>> Parse(string text, string source = "CSV")
    {
        int line = 1, quoteLine = 0;
        var rows = new List<List<string>>();
        var row = new List<string>();
        var field = new StringBuilder();
        bool quoted = false, any = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else { field.Append(c); if (c == '\n') line++; }
                continue;
            }
            switch (c)
            {
                case '"': quoted = true; any = true; quoteLine = line; break;
                case ',': row.Add(field.ToString()); field.Clear(); any = true; break;
                case '\r': break;
                case '\n':
                    row.Add(field.ToString()); field.Clear();
                    rows.Add(row); row = []; any = false; line++;
                    break;
                default: field.Append(c); any = true; break;
            }
        }
        if (quoted) throw new DeemFormatException(source, $"line {quoteLine}: a quoted field is never closed (the file ends inside it)");
        if (any || field.Length > 0) { row.Add(field.ToString()); rows.Add(row); }
        return rows;
    }
}
