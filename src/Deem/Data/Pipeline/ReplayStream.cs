using Deem.Data.Formats;
using Deem.Diagnostics;

namespace Deem.Data.Pipeline;

/// <summary>
/// Serves copies of recorded batches in order, again and again: several runs (e.g. the variants of a
/// step benchmark) see the same batches at the same steps. Copying a batch is this stream's data cost.
/// </summary>
public sealed class ReplayStream(IReadOnlyList<DeemBatch> batches, int stage = 1) : IBatchStream
{
    int _next;

    public DeemBatch Next()
    {
        using var section = StepProfiler.Time(StepProfiler.Data);
        var b = batches[_next++ % batches.Count];
        return new DeemBatch
        {
            Ids = b.Ids.clone(), AttentionMask = b.AttentionMask.clone(), ImagesEnc = b.ImagesEnc.clone(), ImagesDec = b.ImagesDec.clone(),
            ImagesPerSequence = b.ImagesPerSequence, RegionMasks = b.RegionMasks?.clone(), PromptOffsets = b.PromptOffsets,
            GtTextIds = b.GtTextIds?.clone(), NtpWeight = b.NtpWeight, NipWeight = b.NipWeight, Sources = b.Sources,
        };
    }

    public DataPosition Position => new() { Stage = stage, Batches = _next };
    public SkipCounter Skips { get; } = new();
    public IReadOnlyDictionary<string, int> SkipTotals => Skips.Counts;
    public void Dispose() { }
}
