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
/// count), and the updated slices all-gathered into every rank's parameters.
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

    public ZeroAdamW(IReadOnlyList<OptimizerGroup> groups, StageConfig stage, ICollectives comm)
    {
        _comm = comm;
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
        _expAvg = zeros(ShardSize);
        _expAvgSq = zeros(ShardSize);
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

    /// <summary>One optimiser step at lr = group lr · <paramref name="lrMultiplier"/>; returns the global gradient norm before clipping.</summary>
    public double Step(double lrMultiplier, double maxGradNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long padded = ShardSize * _comm.WorldSize;
        var flat = zeros(padded);                                             // [W·S]
        var present = zeros(_segments.Count);                                 // [P]
        for (int i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            var g = s.Parameter.grad;
            if (g is null) continue;
            flat.narrow(0, s.Offset, s.Parameter.numel()).copy_(g.reshape(-1));
            present[i] = 1f;
        }
        _comm.AllReduce(present);
        var grad = empty(ShardSize);                                          // [S]
        _comm.ReduceScatter(flat, grad);
        var sq = grad.to_type(ScalarType.Float64).pow(2).sum().to_type(ScalarType.Float32).reshape(1);
        _comm.AllReduce(sq);
        double norm = Math.Sqrt(sq.item<float>());
        if (maxGradNorm > 0)
        {
            double coef = maxGradNorm / (norm + 1e-6);
            if (coef < 1) grad.mul_(coef);
        }

        var slice = zeros(ShardSize);                                         // [S] this rank's parameters
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

        var all = empty(padded);                                              // [W·S]
        _comm.AllGather(slice, all);
        foreach (var s in _segments)
            s.Parameter.copy_(all.narrow(0, s.Offset, s.Parameter.numel()).view(s.Parameter.shape));
        return norm;
    }

    /// <summary>
    /// The whole AdamW state by parameter name ({name}.exp_avg, .exp_avg_sq, .step), gathered from every
    /// rank's slice; a collective, so every rank calls it (rank 0 writes the result).
    /// </summary>
    public Dictionary<string, Tensor> GatherState()
    {
        using var scope = NewDisposeScope();
        long padded = ShardSize * _comm.WorldSize;
        var avg = empty(padded);
        var sq = empty(padded);
        _comm.AllGather(_expAvg, avg);
        _comm.AllGather(_expAvgSq, sq);
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            state[s.Name + ".exp_avg"] = avg.narrow(0, s.Offset, s.Parameter.numel()).view(s.Parameter.shape).clone().MoveToOuterDisposeScope();
            state[s.Name + ".exp_avg_sq"] = sq.narrow(0, s.Offset, s.Parameter.numel()).view(s.Parameter.shape).clone().MoveToOuterDisposeScope();
            state[s.Name + ".step"] = tensor(_steps[i]).MoveToOuterDisposeScope();
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
