using System.Text;

namespace Deem.Benchmarks;

/// <summary>
/// A minimal RFC 4180 CSV reader for benchmark tables (MMVP's <c>Questions.csv</c>, reference §6.3):
/// comma separated, fields optionally in double quotes, "" for a quote inside quotes, quoted fields may
/// span lines, CRLF or LF line ends.
/// </summary>
public static class Csv
{
    /// <summary>Splits <paramref name="text"/> into rows of fields.</summary>
    public static List<List<string>> Parse(string text)
    {
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
                else field.Append(c);
                continue;
            }
            switch (c)
            {
                case '"': quoted = true; any = true; break;
                case ',': row.Add(field.ToString()); field.Clear(); any = true; break;
                case '\r': break;
                case '\n':
                    row.Add(field.ToString()); field.Clear();
                    rows.Add(row); row = []; any = false;
                    break;
                default: field.Append(c); any = true; break;
            }
        }
        if (quoted) throw new FormatException("CSV ends inside a quoted field.");
        if (any || field.Length > 0) { row.Add(field.ToString()); rows.Add(row); }
        return rows;
    }
}
