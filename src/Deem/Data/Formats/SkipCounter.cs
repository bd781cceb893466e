namespace Deem.Data.Formats;

/// <summary>
/// What the readers do with a malformed record (bad JSON line, missing field, unreadable image):
/// lenient (default) — skip it and count it by reason, keeping the first few locations so a report
/// can show them; strict — throw <see cref="DeemFormatException"/> naming the file and line/key.
/// Real web-scale data (MMC4, LAION shards) always has some broken records (reference §5.1:
/// "drop images that fail to load"), so lenient is the training default and strict the test default.
/// </summary>
public sealed class SkipCounter
{
    readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
    readonly List<string> _examples = [];

    public SkipCounter(bool strict = false) { Strict = strict; }

    /// <summary>Throw on the first malformed record instead of counting it.</summary>
    public bool Strict { get; }

    /// <summary>How many records were skipped, per reason.</summary>
    public IReadOnlyDictionary<string, int> Counts => _counts;

    /// <summary>The first 20 skipped records as "file: 'key': reason (detail)".</summary>
    public IReadOnlyList<string> Examples => _examples;

    public int Total => _counts.Values.Sum();

    public int this[string reason] => _counts.GetValueOrDefault(reason);

    /// <summary>Records a malformed record, or throws in strict mode.</summary>
    /// <param name="file">The file at fault (shard, jsonl, image).</param>
    /// <param name="key">Line ("line 12"), entry or record key.</param>
    /// <param name="reason">A short stable reason used as the counter key ("bad json", "missing field").</param>
    /// <param name="detail">What exactly was wrong.</param>
    /// <param name="inner">The exception that revealed the problem, kept as the inner exception in strict mode.</param>
    public void Skip(string file, string? key, string reason, string? detail = null, Exception? inner = null)
    {
        string message = detail is null ? reason : $"{reason}: {detail}";
        if (Strict) throw new DeemFormatException(file, message, key, inner);
        _counts[reason] = _counts.GetValueOrDefault(reason) + 1;
        if (_examples.Count < 20) _examples.Add(key is null ? $"{file}: {message}" : $"{file}: '{key}': {message}");
    }

    public override string ToString() =>
        _counts.Count == 0 ? "no records skipped"
        : string.Join(", ", _counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}: {kv.Value}"));
}

/// <summary>A record-level problem raised inside a reader and routed to <see cref="SkipCounter.Skip"/>.</summary>
internal sealed class RecordException : Exception
{
    public RecordException(string reason, string detail) : base(detail) { Reason = reason; }
    public string Reason { get; }

    public static RecordException Missing(string field) => new("missing field", $"'{field}' is missing or has the wrong type");
}
