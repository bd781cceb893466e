using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deem.IO;

namespace Deem.Benchmarks;

/// <summary>
/// Append-only predictions file (JSON lines, one object per evaluated item) that survives a crash:
/// reopening it reads the ids already written so the evaluation loop can skip them. Each record is
/// written as one line ending in '\n' and flushed, so a crash can only leave an unterminated last line;
/// that line is dropped (the file is cut back to the last complete line) and the item is redone.
/// Part of the evaluation reports of reference §6 (one predictions file + one scores file per benchmark).
/// </summary>
public sealed class PredictionLog : IDisposable
{
    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    readonly FileStream _stream;
    readonly HashSet<string> _finished;
    readonly List<JsonObject> _records;
    readonly bool _durable;

    PredictionLog(string path, string idKey, FileStream stream, List<JsonObject> records, bool durable)
    {
        Path = path;
        IdKey = idKey;
        _stream = stream;
        _records = records;
        _finished = new HashSet<string>(records.Select(r => IdOf(r, idKey, path)), StringComparer.Ordinal);
        _durable = durable;
    }

    /// <summary>The predictions file.</summary>
    public string Path { get; }

    /// <summary>The JSON key that holds each record's id (default "id").</summary>
    public string IdKey { get; }

    /// <summary>Ids of the records already in the file.</summary>
    public IReadOnlyCollection<string> FinishedIds => _finished;

    /// <summary>The records in the file, in order (those read at open plus those appended since).</summary>
    public IReadOnlyList<JsonObject> Records => _records;

    /// <summary>
    /// Opens (creating if needed) the predictions file at <paramref name="path"/>, reading the finished
    /// records and cutting off an unterminated last line. With <paramref name="durable"/> every append is
    /// flushed to disk, not only to the operating system.
    /// </summary>
    public static PredictionLog Open(string path, string idKey = "id", bool durable = false)
    {
        string full = System.IO.Path.GetFullPath(path);
        string? dir = System.IO.Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var stream = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            var (records, goodLength) = ReadComplete(stream, full, idKey);
            if (goodLength != stream.Length) stream.SetLength(goodLength); // drop the torn last line
            stream.Seek(0, SeekOrigin.End);
            return new PredictionLog(full, idKey, stream, records, durable);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads the complete records of a predictions file without opening it for writing.</summary>
    public static IReadOnlyList<JsonObject> ReadAll(string path, string idKey = "id")
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return ReadComplete(stream, System.IO.Path.GetFullPath(path), idKey).Records;
    }

    /// <summary>Whether the item <paramref name="id"/> already has a record.</summary>
    public bool IsFinished(string id) => _finished.Contains(id);

    /// <summary>
    /// Appends the record of item <paramref name="id"/> (its id is written under <see cref="IdKey"/>) and
    /// flushes. Appending an id twice is an error.
    /// </summary>
    public void Append(string id, JsonObject record)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(record);
        if (_finished.Contains(id)) throw new InvalidOperationException($"Item '{id}' is already in {Path}.");
        var copy = (JsonObject)record.DeepClone();
        copy[IdKey] = id;
        byte[] line = Utf8.GetBytes(copy.ToJsonString() + "\n");
        _stream.Write(line);
        _stream.Flush(flushToDisk: _durable);
        _finished.Add(id);
        _records.Add(copy);
    }

    /// <inheritdoc/>
    public void Dispose() => _stream.Dispose();

    // The records of the '\n'-terminated lines and the byte length they span; an unterminated tail is ignored.
    static (List<JsonObject> Records, long Length) ReadComplete(Stream stream, string file, string idKey)
    {
        stream.Seek(0, SeekOrigin.Begin);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        byte[] bytes = buffer.ToArray();
        var records = new List<JsonObject>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int start = 0, lineNo = 0;
        while (true)
        {
            int nl = Array.IndexOf(bytes, (byte)'\n', start);
            if (nl < 0) break;
            lineNo++;
            string text = Utf8.GetString(bytes, start, nl - start).Trim();
            start = nl + 1;
            if (text.Length == 0) continue;
            JsonObject obj;
            try
            {
                obj = JsonNode.Parse(text) as JsonObject
                    ?? throw new DeemFormatException(file, $"line {lineNo} is not a JSON object.");
            }
            catch (JsonException e)
            {
                throw new DeemFormatException(file, $"line {lineNo} is not valid JSON: {e.Message}", inner: e);
            }
            string id = IdOf(obj, idKey, file);
            if (!seen.Add(id)) throw new DeemFormatException(file, $"id '{id}' appears twice (line {lineNo}).", idKey);
            records.Add(obj);
        }
        return (records, start);
    }

    static string IdOf(JsonObject record, string idKey, string file)
    {
        if (!record.TryGetPropertyValue(idKey, out JsonNode? node) || node is null)
            throw new DeemFormatException(file, $"a record has no '{idKey}'.", idKey);
        return node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString();
    }
}

/// <summary>Scores files of the evaluation reports (reference §6): one JSON object, written atomically.</summary>
public static class ScoresFile
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes <paramref name="scores"/> as indented JSON through a temp file and a rename.</summary>
    public static void Write(string path, JsonObject scores) =>
        AtomicFile.WriteAllText(path, scores.ToJsonString(Indented) + "\n");

    /// <summary>Writes a flat name → value table of scores.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, double> scores)
    {
        var obj = new JsonObject();
        foreach (var (k, v) in scores) obj[k] = v;
        Write(path, obj);
    }

    /// <summary>Reads a scores file back; a missing, unparsable or non-object file is a <see cref="DeemFormatException"/> naming it.</summary>
    public static JsonObject Read(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "the scores file is not there.");
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                   ?? throw new DeemFormatException(path, "the scores file is not a JSON object.");
        }
        catch (JsonException e) { throw new DeemFormatException(path, "the scores file is not valid JSON: " + e.Message.Split('\n')[0], inner: e); }
    }
}
