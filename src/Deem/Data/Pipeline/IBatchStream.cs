using Deem.Data.Formats;

namespace Deem.Data.Pipeline;

/// <summary>
/// An endless, seeded stream of training batches for one DEEM stage (reference §5; paper §2.3):
/// stage 1 packed MMC4 / pair sequences, stage 2 instruction SFT, stage 3 mask SFT.
/// </summary>
public interface IBatchStream : IDisposable
{
    /// <summary>The next batch (the caller disposes it).</summary>
    DeemBatch Next();

    /// <summary>The position after the last batch; a stream built from it continues identically.</summary>
    DataPosition Position { get; }

    /// <summary>Malformed records and unreadable images skipped by this stream object.</summary>
    SkipCounter Skips { get; }

    /// <summary>Skips per reason including those counted before the position this stream resumed from.</summary>
    IReadOnlyDictionary<string, int> SkipTotals { get; }
}
