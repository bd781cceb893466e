using Deem.Data.Formats;

namespace Deem.Data.Pipeline;

/// <summary>Where a <see cref="RecordStream{T}"/> stands: epoch, file (index into that epoch's file
/// order) and records already taken from that file.</summary>
public sealed record StreamPosition(int Epoch, int File, long Record);

/// <summary>
/// An endless stream of records over a list of files (MMC4 jsonl/zip shards, webdataset tars), the
/// "longest" sampling of reference §5.1: when the files are exhausted the stream starts a new epoch.
/// Each epoch reads the files in a seeded order (a permutation of (seed, epoch), the shard shuffle),
/// each file in its own order. The position is (epoch, file, record), so a resumed stream reopens the
/// file and skips the records already taken.
/// <para>Each file is read with its own <see cref="SkipCounter"/> (strict when the pipeline is), and
/// what it counts is forwarded to the pipeline's counter as it happens; records passed over while
/// resuming are not counted again.</para>
/// </summary>
public sealed class RecordStream<T> : IDisposable
{
    readonly IReadOnlyList<string> _files;
    readonly Func<string, SkipCounter, IEnumerable<T>> _read;
    readonly int _seed;
    readonly SkipCounter _skips;
    int[] _order;
    IEnumerator<T>? _current;
    SkipCounter? _fileSkips;
    Dictionary<string, int> _forwarded = new(StringComparer.Ordinal);
    int _examplesForwarded;
    int _emptyFilesInARow;

    /// <param name="files">The files (at least one).</param>
    /// <param name="read">Reads one file, counting malformed records in the counter it is given.</param>
    /// <param name="seed">Seed of the per-epoch file order.</param>
    /// <param name="skips">The pipeline's counter.</param>
    /// <param name="start">Where to start (null: epoch 0, first file).</param>
    public RecordStream(IReadOnlyList<string> files, Func<string, SkipCounter, IEnumerable<T>> read, int seed, SkipCounter skips, StreamPosition? start = null)
    {
        if (files.Count == 0) throw new ArgumentException("a record stream needs at least one file", nameof(files));
        (_files, _read, _seed, _skips) = (files, read, seed, skips);
        Position = start ?? new StreamPosition(0, 0, 0);
        if (Position.File < 0 || Position.File >= files.Count || Position.Record < 0 || Position.Epoch < 0)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"outside {files.Count} files");
        _order = Order(Position.Epoch);
    }

    public StreamPosition Position { get; private set; }

    /// <summary>The files in the order epoch <paramref name="epoch"/> reads them.</summary>
    public int[] Order(int epoch) => PipelineRng.For(_seed, "file-order", epoch).Permutation(_files.Count);

    /// <summary>The next record (a new epoch starts when the files run out); throws when no file yields anything.</summary>
    public T Next()
    {
        while (true)
        {
            if (_current is null)
            {
                string file = _files[_order[Position.File]];
                _fileSkips = new SkipCounter(_skips.Strict);
                _current = _read(file, _fileSkips).GetEnumerator();
                for (long k = 0; k < Position.Record; k++)
                    if (!_current.MoveNext()) break;
                _forwarded = new Dictionary<string, int>(_fileSkips.Counts, StringComparer.Ordinal);
                _examplesForwarded = _fileSkips.Examples.Count;
            }
            bool has = _current.MoveNext();
            Forward(_files[_order[Position.File]]);
            if (has)
            {
                _emptyFilesInARow = 0;
                Position = Position with { Record = Position.Record + 1 };
                return _current.Current;
            }
            _current.Dispose();
            _current = null;
            if (Position.Record == 0 && ++_emptyFilesInARow >= _files.Count)
                throw new DeemFormatException(_files[0], $"none of the {_files.Count} file(s) holds a usable record");
            Position = Position.File + 1 < _files.Count
                ? new StreamPosition(Position.Epoch, Position.File + 1, 0)
                : new StreamPosition(Position.Epoch + 1, 0, 0);
            _order = Order(Position.Epoch);
        }
    }

    /// <summary>Passes what the file's counter counted since the last call on to the pipeline's counter
    /// (its example lines become the details, so the final report still names file and line).</summary>
    void Forward(string file)
    {
        if (_fileSkips is null) return;
        var examples = _fileSkips.Examples;
        for (; _examplesForwarded < examples.Count; _examplesForwarded++)
        {
            string e = examples[_examplesForwarded];
            string? reason = _fileSkips.Counts.Keys.FirstOrDefault(r => e.Contains(": " + r, StringComparison.Ordinal));
            if (reason is null || _forwarded.GetValueOrDefault(reason) >= _fileSkips[reason]) continue;
            _skips.Skip(file, null, reason, e);
            _forwarded[reason] = _forwarded.GetValueOrDefault(reason) + 1;
        }
        foreach (var (reason, count) in _fileSkips.Counts)
            for (int done = _forwarded.GetValueOrDefault(reason); done < count; done++)
            {
                _skips.Skip(file, null, reason);
                _forwarded[reason] = done + 1;
            }
    }

    public void Dispose()
    {
        _current?.Dispose();
        _current = null;
    }
}
