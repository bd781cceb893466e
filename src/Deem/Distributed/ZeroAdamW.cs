using Deem.Config;
using Deem.IO;
using Deem.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Distributed;

/// <summary>
/// ZeRO stage 1 (DeepSpeed; the authors' 32-GPU recipe): the trainable parameters laid end to end in
/// one flat range of N elements (padded to a multiple of the world size W), and AdamW's state (m, v)
/// kept only for this rank's slice [rank·N/W, (rank+1)·N/W). A step: gradients reduce-scattered (each
/// rank gets the global sum of its slice), the global norm from the slices' squared sums, clipping,
/// AdamW on the slice (PyTorch's update, per parameter with its group's lr and decay and its own step
/// count), and the updated slices all-gathered into every rank's parameters. Both collectives go in
/// buckets of W × ⌈25 M / W⌉ elements gathered from (scattered to) the parameters, so no rank ever holds
/// a flat copy of all gradients or parameters.
/// Checkpoints hold the whole state by parameter name, in the format of the unsharded optimiser, so a
/// run resumes on any number of ranks (re-sharded on load) or without ZeRO.
/// </summary>
public sealed class ZeroAdamW : IDisposable
{
    /// <summary>One parameter's place in the flat range.</summary>
    sealed record Segment(string Name, Parameter Parameter, OptimizerGroup Group, long Offset);

    readonly ICollectives _comm;
    readonly List<Segment> _segments = [];
    readonly long[] _steps;
    readonly double _beta1, _beta2, _eps;
    readonly Tensor _expAvg, _expAvgSq;                                       // [S] this rank's slice

    readonly long _bucketElements;
    readonly Device _device;                                                  // the parameters': NCCL for CUDA, MPI for CPU

    /// <param name="groups">The trainable parameters, laid out in group order.</param>
    /// <param name="stage">Betas and eps.</param>
    /// <param name="comm">The ranks.</param>
    /// <param name="bucketElements">Elements of one collective bucket over all ranks.</param>
    public ZeroAdamW(IReadOnlyList<OptimizerGroup> groups, StageConfig stage, ICollectives comm, long bucketElements = DataParallel.BucketElements)
    {
        (_comm, _bucketElements) = (comm, bucketElements);
        (_beta1, _beta2, _eps) = (stage.Betas[0], stage.Betas[1], stage.Eps);
        long at = 0;
        foreach (var g in groups)
            foreach (var (name, p) in g.Parameters)
            {
                _segments.Add(new Segment(name, p, g, at));
                at += p.numel();
            }
        Total = at;
        ShardSize = (Total + comm.WorldSize - 1) / comm.WorldSize;
        ShardStart = comm.Rank * ShardSize;
        _steps = new long[_segments.Count];
        _device = _segments.Count > 0 ? _segments[0].Parameter.device : CPU;
        _expAvg = zeros(ShardSize, device: _device);
        _expAvgSq = zeros(ShardSize, device: _device);
    }

    /// <summary>Trainable elements N.</summary>
    public long Total { get; }
    /// <summary>Elements per rank's slice, ⌈N / W⌉.</summary>
    public long ShardSize { get; }
    /// <summary>Where this rank's slice starts in the flat range.</summary>
    public long ShardStart { get; }

    /// <summary>The part of segment <paramref name="s"/> inside this rank's slice: (offset in the parameter, offset in the slice, length).</summary>
    (long InParam, long InShard, long Length) Overlap(Segment s)
    {
        long lo = Math.Max(s.Offset, ShardStart), hi = Math.Min(s.Offset + s.Parameter.numel(), ShardStart + ShardSize);
        return hi <= lo ? (0, 0, 0) : (lo - s.Offset, lo - ShardStart, hi - lo);
    }

    /// <summary>Elements per rank in one bucket of the collectives.</summary>
    long BucketPerRank => Math.Max(1, Math.Min(ShardSize, _bucketElements / _comm.WorldSize));

    /// <summary>into ← flat[start, start + len) of the tensors <paramref name="of"/> gives per segment (null or past the end: left as is).</summary>
    void Read(long start, Tensor into, Func<Segment, Tensor?> of)
    {
        long end = start + into.numel();
        foreach (var s in _segments)
        {
            long lo = Math.Max(start, s.Offset), hi = Math.Min(end, s.Offset + s.Parameter.numel());
            if (hi <= lo) continue;
            using var t = of(s);
            if (t is null) continue;
            into.narrow(0, lo - start, hi - lo).copy_(t.reshape(-1).narrow(0, lo - s.Offset, hi - lo));
        }
    }

    /// <summary>The parameters' flat[start, start + len) ← from (the padding past the end is dropped).</summary>
    void Write(long start, Tensor from, Func<Segment, Tensor> of)
    {
        long end = start + from.numel();
        foreach (var s in _segments)
        {
            long lo = Math.Max(start, s.Offset), hi = Math.Min(end, s.Offset + s.Parameter.numel());
            if (hi <= lo) continue;
            of(s).view(-1).narrow(0, lo - s.Offset, hi - lo).copy_(from.narrow(0, lo - start, hi - lo));
        }
    }

    /// <summary>One optimiser step at lr = group lr · <paramref name="lrMultiplier"/>; returns the global gradient norm before clipping.</summary>
    public double Step(double lrMultiplier, double maxGradNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int W = _comm.WorldSize;
        var present = zeros(_segments.Count);                                 // [P]
        for (int i = 0; i < _segments.Count; i++)
            using (var g = _segments[i].Parameter.grad)
                if (g is not null) present[i] = 1f;
        _comm.AllReduce(present);
        var grad = empty(ShardSize, device: _device);                         // [S]
        for (long k = 0; k < ShardSize; k += BucketPerRank)
        {
            using var bucketScope = NewDisposeScope();
            long c = Math.Min(BucketPerRank, ShardSize - k);
            var bucket = zeros(W * c, device: _device);                       // [W·c]: piece k of every rank's slice
            for (int r = 0; r < W; r++) Read(r * ShardSize + k, bucket.narrow(0, r * c, c), s => s.Parameter.grad);
            _comm.ReduceScatter(bucket, grad.narrow(0, k, c));
        }
        var sq = grad.to_type(ScalarType.Float64).pow(2).sum().to_type(ScalarType.Float32).reshape(1);
        _comm.AllReduce(sq);
        double norm = Math.Sqrt(sq.item<float>());
        if (maxGradNorm > 0)
        {
            double coef = maxGradNorm / (norm + 1e-6);
            if (coef < 1) grad.mul_(coef);
        }

        var slice = zeros(ShardSize, device: _device);                        // [S] this rank's parameters
        var presentFlags = present.data<float>().ToArray();
        for (int i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            long step = presentFlags[i] == 0f ? _steps[i] : ++_steps[i];   // every rank counts every parameter's steps
            var (inParam, inShard, length) = Overlap(s);
            if (length == 0) continue;
            var p = slice.narrow(0, inShard, length);
            p.copy_(s.Parameter.detach().reshape(-1).narrow(0, inParam, length));
            if (presentFlags[i] == 0f) continue;
            double lr = s.Group.Lr * lrMultiplier, wd = s.Group.WeightDecay;
            var g = grad.narrow(0, inShard, length);
            var m = _expAvg.narrow(0, inShard, length);
            var v = _expAvgSq.narrow(0, inShard, length);
            // PyTorch's AdamW (decoupled decay, bias-corrected moments), the operations of TorchSharp's optim.AdamW.
            p.mul_(1 - lr * wd);
            double bias1 = 1 - Math.Pow(_beta1, step), bias2 = 1 - Math.Pow(_beta2, step);
            m.mul_(_beta1).add_(g, alpha: 1 - _beta1);
            v.mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
            var denom = (v.sqrt() / Math.Sqrt(bias2)).add_(_eps);
            p.addcdiv_(m, denom, value: -lr / bias1);
        }

        for (long k = 0; k < ShardSize; k += BucketPerRank)
        {
            using var bucketScope = NewDisposeScope();
            long c = Math.Min(BucketPerRank, ShardSize - k);
            var bucket = empty(W * c, device: _device);                       // [W·c]
            _comm.AllGather(slice.narrow(0, k, c), bucket);
            for (int r = 0; r < W; r++) Write(r * ShardSize + k, bucket.narrow(0, r * c, c), s => s.Parameter);
        }
        return norm;
    }

    /// <summary>
    /// The whole AdamW state by parameter name ({name}.exp_avg, .exp_avg_sq, .step), gathered from every
    /// rank's slice; a collective, so every rank calls it (rank 0 writes the result).
    /// </summary>
    public Dictionary<string, Tensor> GatherState()
    {
        int W = _comm.WorldSize;
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            state[s.Name + ".exp_avg"] = zeros(s.Parameter.shape);
            state[s.Name + ".exp_avg_sq"] = zeros(s.Parameter.shape);
            state[s.Name + ".step"] = tensor(_steps[i]);
        }
        foreach (var (suffix, slice) in new[] { (".exp_avg", _expAvg), (".exp_avg_sq", _expAvgSq) })
            for (long k = 0; k < ShardSize; k += BucketPerRank)
            {
                using var bucketScope = NewDisposeScope();
                long c = Math.Min(BucketPerRank, ShardSize - k);
                var bucket = empty(W * c, device: _device);                   // [W·c]
                _comm.AllGather(slice.narrow(0, k, c), bucket);
                for (int r = 0; r < W; r++) Write(r * ShardSize + k, bucket.narrow(0, r * c, c), s => state[s.Name + suffix]);
            }
        return state;
    }

    /// <summary>Takes this rank's slice of a checkpoint's AdamW state (written by any number of ranks, with or without ZeRO).</summary>
    public void Load(string checkpointDir)
    {
        string path = Path.Combine(checkpointDir, TrainingCheckpoint.OptimizerFile);
        if (!File.Exists(path)) throw new DeemFormatException(path, "optimizer state not found");
        using var file = SafetensorsFile.Open(path);
        var missing = _segments.Where(s => !file.Contains(s.Name + ".exp_avg")).Select(s => s.Name).ToList();
        if (missing.Count > 0)
            throw new DeemFormatException(path, $"no optimizer state for {missing.Count} trainable parameters (was the checkpoint written by another stage?): {string.Join(", ", missing.Take(5))}");
        using var noGrad = no_grad();
        for (int i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            using var step = file.Load(s.Name + ".step");
            _steps[i] = step.item<long>();
            var (inParam, inShard, length) = Overlap(s);
            if (length == 0) continue;
            foreach (var (key, into) in new[] { (".exp_avg", _expAvg), (".exp_avg_sq", _expAvgSq) })
            {
                using var t = file.Load(s.Name + key);
                if (!t.shape.SequenceEqual(s.Parameter.shape))
                    throw new DeemFormatException(path, $"state shape [{string.Join(", ", t.shape)}] vs parameter [{string.Join(", ", s.Parameter.shape)}]", s.Name + key);
                into.narrow(0, inShard, length).copy_(t.reshape(-1).narrow(0, inParam, length));
            }
        }
    }

    public void Dispose()
    {
        _expAvg.Dispose();
        _expAvgSq.Dispose();
    }
}
