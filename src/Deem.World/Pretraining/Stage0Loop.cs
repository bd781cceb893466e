using Deem.Training;
using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.World.Pretraining;

/// <summary>Optimiser settings of one stage-0 loop.</summary>
public sealed record Stage0LoopSettings(int Steps, double LearningRate, double WeightDecay, double WarmupFraction, double MaxGradNorm)
{
    public static Stage0LoopSettings From(Stage0Options o, int steps, double lr) =>
        new(steps, lr, o.WeightDecay, o.WarmupFraction, o.MaxGradNorm);
}

/// <summary>
/// The one optimisation loop every stage-0 component trains with (the optimiser recipe of reference §3,
/// scaled down): AdamW, linear warm-up then cosine decay (<see cref="LrSchedule"/>), global gradient-norm
/// clipping, a dispose scope per step, and a progress and a metrics callback after each step. The
/// component supplies the loss of step <c>i</c> (it draws its own seeded batch).
/// </summary>
public static class Stage0Loop
{
    public static ComponentResult Run(string component, IReadOnlyList<Parameter> parameters, Stage0LoopSettings settings,
        Func<int, Tensor> lossOfStep, Stage0Callbacks callbacks, Action? afterStep = null)
    {
        if (parameters.Count == 0) throw new ArgumentException($"{component}: no trainable parameters", nameof(parameters));
        using var optimizer = optim.AdamW(parameters, lr: settings.LearningRate, weight_decay: settings.WeightDecay);
        int total = settings.Steps;
        int warmup = (int)Math.Round(settings.WarmupFraction * total);
        var losses = new List<double>(total);
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < total; step++)
        {
            using var scope = NewDisposeScope();
            // Step i uses the multiplier after i+1 scheduler ticks, so neither the first nor the last step has lr 0.
            double lr = settings.LearningRate * LrSchedule.Multiplier("cosine", step + 1, warmup, total + 1);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

            optimizer.zero_grad();
            var loss = lossOfStep(step);
            double value = loss.item<float>();
            if (!double.IsFinite(value))
                throw new InvalidOperationException($"{component}: loss is {value} at step {step + 1}");
            loss.backward();
            double gradNorm = nn.utils.clip_grad_norm_(parameters, settings.MaxGradNorm);
            optimizer.step();
            afterStep?.Invoke();

            losses.Add(value);
            double seconds = clock.Elapsed.TotalSeconds;
            var info = new Stage0Step(component, step + 1, total, value, lr, gradNorm, (step + 1) / Math.Max(seconds, 1e-9), seconds);
            callbacks.Progress?.Invoke(info);
            callbacks.Metrics?.Invoke(info);
        }
        return new ComponentResult(component, total, losses.FirstOrDefault(double.NaN), losses.LastOrDefault(double.NaN),
            clock.Elapsed.TotalSeconds, losses);
    }
}

/// <summary>Seeded batches of indices: a fresh shuffle each epoch, no index twice in a batch.</summary>
public sealed class Stage0Batches
{
    private readonly Random rng;
    private readonly int count;
    private readonly int batch;
    private readonly List<long> pending = [];

    public Stage0Batches(int count, int batchSize, int seed)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "need at least one item");
        this.count = count;
        batch = Math.Min(batchSize, count);
        rng = new Random(seed);
    }

    /// <summary>Items per batch (the requested size, or fewer when the data set is smaller).</summary>
    public int BatchSize => batch;

    /// <summary>The next batch's indices as an int64 tensor [B].</summary>
    public Tensor Next()
    {
        if (pending.Count < batch)
        {
            var order = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
            rng.Shuffle(order);
            pending.Clear();
            pending.AddRange(order);
        }
        var idx = pending.Take(batch).ToArray();
        pending.RemoveRange(0, batch);
        return tensor(idx);
    }
}
