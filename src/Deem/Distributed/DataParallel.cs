using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Distributed;

/// <summary>
/// The two collectives plain data parallelism adds to a training step (DeepSpeed's and DDP's): the
/// initial weights broadcast from rank 0, and after backward the gradients summed across ranks in flat
/// buckets (the caller scales each rank's loss by 1 / (ranks · accumulation), so the sum is the mean
/// over the global batch). A bucket ends in one presence flag per parameter, so a parameter that no
/// rank's graph reached keeps no gradient (AdamW skips it, as in one process) and one reached by some
/// ranks only gets their sum.
/// </summary>
public static class DataParallel
{
    /// <summary>Elements per flat bucket (25 M floats = 100 MB, DDP's default bucket is 25 MB).</summary>
    public const long BucketElements = 25_000_000;

    /// <summary>Consecutive runs of tensors whose total size stays within <paramref name="limit"/> (a larger tensor is a bucket of its own).</summary>
    public static List<List<T>> Buckets<T>(IReadOnlyList<T> items, Func<T, long> size, long limit = BucketElements)
    {
        var buckets = new List<List<T>>();
        long filled = 0;
        foreach (var item in items)
        {
            long n = size(item);
            if (buckets.Count == 0 || filled + n > limit) { buckets.Add([]); filled = 0; }
            buckets[^1].Add(item);
            filled += n;
        }
        return buckets;
    }

    /// <summary>Every rank's tensors ← rank 0's (weights and buffers before the first step).</summary>
    public static void Broadcast(ICollectives comm, IReadOnlyList<Tensor> tensors)
    {
        if (comm.WorldSize == 1) return;
        using var noGrad = no_grad();
        foreach (var bucket in Buckets(tensors, t => t.numel()))
        {
            using var scope = NewDisposeScope();
            var flat = cat(bucket.Select(t => t.detach().to_type(ScalarType.Float32).reshape(-1)).ToArray());   // [n]
            comm.Broadcast(flat);
            long at = 0;
            foreach (var t in bucket)
            {
                t.copy_(flat.narrow(0, at, t.numel()).view(t.shape));
                at += t.numel();
            }
        }
    }

    /// <summary>
    /// The seed of global micro-batch <paramref name="slot"/> (micro · ranks + rank) of optimiser step
    /// <paramref name="step"/>: every split of a global batch into ranks × accumulation draws the same
    /// noise per micro-batch (SplitMix64's finaliser over seed, step and slot).
    /// </summary>
    public static long SlotSeed(int seed, int step, int slot)
    {
        ulong x = ((ulong)(uint)seed << 40) ^ ((ulong)(uint)step << 12) ^ (ulong)(uint)slot;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return (long)((x ^ (x >> 31)) >> 1);
    }

    /// <summary>Σ over ranks of a few scalars (float32 on the wire).</summary>
    public static double[] SumOverRanks(ICollectives comm, params double[] values)
    {
        using var t = tensor(values.Select(v => (float)v).ToArray());
        comm.AllReduce(t);
        return t.data<float>().ToArray().Select(v => (double)v).ToArray();
    }

    /// <summary>Each parameter's gradient ← Σ over ranks (none where no rank has one).</summary>
    public static void SumGradients(ICollectives comm, IReadOnlyList<Parameter> parameters)
    {
        if (comm.WorldSize == 1) return;
        using var noGrad = no_grad();
        foreach (var bucket in Buckets(parameters, p => p.numel()))
        {
            using var scope = NewDisposeScope();
            long n = bucket.Sum(p => p.numel());
            var flat = zeros(n + bucket.Count, device: bucket[0].device);           // [n grads | presence per parameter], on the parameters' device
            long at = 0;
            for (int i = 0; i < bucket.Count; i++)
            {
                var p = bucket[i];
                var g = p.grad;
                if (g is not null)
                {
                    flat.narrow(0, at, p.numel()).copy_(g.reshape(-1));
                    flat[n + i] = 1f;
                }
                at += p.numel();
            }
            comm.AllReduce(flat);
            var present = flat.narrow(0, n, bucket.Count).cpu().data<float>().ToArray();
            at = 0;
            for (int i = 0; i < bucket.Count; i++)
            {
                var p = bucket[i];
                var sum = flat.narrow(0, at, p.numel()).view(p.shape);
                at += p.numel();
                if (present[i] == 0f) continue;
                var g = p.grad;
                if (g is null) p.grad = sum.clone();
                else g.copy_(sum);
            }
        }
    }
}
