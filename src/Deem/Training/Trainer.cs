// The DEEM training loop (paper §2.3, Table 11; reference §3), one visible loop:
//
//   deem world make --out world                                   the procedural data set
//   deem train --preset tiny --stage 1 --world world --out runs/s1             NTP + 5·NIP + 5·CSR
//   deem train --preset tiny --stage 1 --world world --out runs/s1b --no-csr   the DEEM* baseline
//   deem train --preset tiny --stage 2 --world world --out runs/s2 --init runs/s1
//   deem train --preset tiny --stage 3 --world world --out runs/s3 --init runs/s2
//   deem train ... --out runs/s1 --resume                         continue a killed run
//   deem plot --run runs/s1 --out loss.png
//
// With an EvalSet, every eval_every steps (and before the first and after the last) the loss terms
// are measured on fixed batches at fixed noise (eval.jsonl): the readable NIP/CSR curves.
//
// Each optimiser step: lr ← base · schedule(step) per group; grads cleared (set to none);
// grad_accum micro-batches each add ∇(loss / grad_accum); clip to max_grad_norm; AdamW step;
// log to metrics.jsonl + TensorBoard; every save_every steps a resumable checkpoint.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Diagnostics;
using Deem.Diffusion;
using Deem.Distributed;
using Deem.IO;
using Deem.Model;
using Deem.Text;
using Deem.Vision;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>
/// Trains a <see cref="DeemModel"/> on one stage (paper §2.3): applies the stage's
/// <see cref="FreezeSchedule"/>, groups the trainable parameters (<see cref="ParamGroups"/>), runs
/// AdamW with warm-up + cosine/linear/constant decay (<see cref="LrSchedule"/>), gradient accumulation
/// and clipping, weighs the objective λ_NTP·NTP + λ_NIP·NIP + λ_CSR·CSR from the stage (per-batch
/// overrides from the SFT collators), and writes metrics and resumable checkpoints. On CPU a run is
/// deterministic: the model draws noise, timesteps, the CFG swap and stochastic depth from the trainer's seeded generator,
/// and both random states are checkpointed, so resuming gives the parameters of an uninterrupted run.
/// Data parallel (<c>mpirun -np N deem train</c>): rank 0's weights are broadcast; every rank reads the
/// stream's global batch in order and keeps every N-th micro-batch (one data position for all ranks, so
/// resuming on any number of ranks continues the same batches); each micro-batch's noise is drawn from
/// generators seeded by its global slot (step, micro, rank), so any split of a global batch into
/// ranks × accumulation draws the same values; gradients are summed across ranks in flat buckets
/// (each loss scaled by 1 / (ranks · accum)), clipped on the global norm, and rank 0 alone writes.
/// </summary>
public sealed class Trainer : IDisposable
{
    public const string LogFile = "train.log";
    public const string SummaryFile = "train_summary.json";

    readonly DeemModel _model;
    readonly ITextTokenizer _tokenizer;
    readonly StageConfig _stage;
    readonly IBatchStream _data;
    readonly TrainerOptions _options;
    readonly ITrainingObserver? _observer;
    readonly IReadOnlyList<OptimizerGroup> _groups;
    readonly optim.Optimizer? _optimizer;
    readonly ZeroAdamW? _zero;
    readonly ICollectives _comm;
    readonly Generator _generator;
    readonly List<Parameter> _trainable;
    readonly EvalSet? _eval;
    readonly VaePosteriorCache? _posteriors, _evalPosteriors;

    /// <param name="model">The model to train; the stage's freeze schedule is applied to it.</param>
    /// <param name="tokenizer">The model's tokenizer, saved with every checkpoint.</param>
    /// <param name="stage">The stage recipe: objective weights, learning rates, schedule, batch.</param>
    /// <param name="data">The batch stream (the caller owns it).</param>
    /// <param name="options">Run folder, seed, cadences and the data-parallel set-up.</param>
    /// <param name="observer">Progress and log callbacks (rank 0 only); null for none.</param>
    /// <param name="eval">Fixed batches scored every eval_every steps (the caller owns them); null for none.</param>
    public Trainer(DeemModel model, ITextTokenizer tokenizer, StageConfig stage, IBatchStream data, TrainerOptions options,
        ITrainingObserver? observer = null, EvalSet? eval = null)
    {
        // The run's cadences (options over the recipe's) are part of the recipe it trains with and records in every
        // checkpoint, so a resumed run keeps them unless told otherwise.
        stage = stage with
        {
            LogEvery = options.LogEvery ?? stage.LogEvery,
            SaveEvery = options.SaveEvery ?? stage.SaveEvery,
            KeepCheckpoints = options.KeepCheckpoints ?? stage.KeepCheckpoints,
            EvalEvery = options.EvalEvery ?? stage.EvalEvery,
        };
        (_model, _tokenizer, _stage, _data, _options, _eval) = (model, tokenizer, stage, data, options, eval);
        _comm = options.Collectives ?? SingleProcessCollectives.Instance;
        _observer = _comm.Rank == 0 ? observer : null;
        FreezeSchedule.Of(stage).Apply(model);
        GradientCheckpointing.Apply(model, stage.GradientCheckpointing);
        PlacementPolicy.ApplyForTraining(model, options.Placement);       // before AdamW: a cast replaces tensors
        _groups = ParamGroups.Build(model, stage);
        _trainable = _groups.SelectMany(g => g.Parameters.Select(p => p.Parameter)).ToList();
        if (_trainable.Count == 0) throw new DeemConfigException(stage.Name, "freeze_*", "no parameter is trainable under this stage's freeze schedule");
        if (options.EvalEvery is < 0) throw new DeemConfigException("--eval-every", "eval_every", $"must be >= 0, found {options.EvalEvery}");
        if (options.KeepCheckpoints is < 0) throw new DeemConfigException("--keep-checkpoints", "keep_checkpoints", $"must be >= 0 (0 keeps every checkpoint), found {options.KeepCheckpoints}");
        if (options.Zero1) _zero = new ZeroAdamW(_groups, stage, _comm);
        else _optimizer = ParamGroups.AdamW(_groups, stage);
        _generator = new Generator((ulong)options.Seed);
        manual_seed(options.Seed);
        // The frozen VAE's posteriors, kept for the run: an image of a later epoch is not encoded again.
        // The evaluation keeps its own, so that evaluating does not change which batch first encodes a training image.
        if (model.Diffusion is { } sd && options.VaePosteriorCacheBytes > 0)
        {
            sd.PosteriorCache = _posteriors = new VaePosteriorCache(options.VaePosteriorCacheBytes);
            if (eval is not null) _evalPosteriors = new VaePosteriorCache(options.VaePosteriorCacheBytes);
        }
        // Stochastic depth draws from the trainer's generator too, so its state is in every checkpoint.
        foreach (var module in model.modules())
            if (module is DropPath dropPath) dropPath.Generator = _generator;
        // Data parallel: every rank starts from rank 0's weights.
        DataParallel.Broadcast(_comm, model.parameters().Cast<Tensor>().Concat(model.buffers()).Where(t => t.is_floating_point()).ToList());   // bf16 towers travel as fp32, exactly
    }

    bool Lead => _comm.Rank == 0;

    /// <summary>Optimiser steps done.</summary>
    public int Step { get; private set; }
    public IReadOnlyList<OptimizerGroup> Groups => _groups;
    public StageConfig Stage => _stage;

    /// <summary>
    /// Restores the trainer's part of a checkpoint written by <see cref="SaveCheckpoint"/>: AdamW state, both
    /// random states and the step. The model must be the checkpoint's (<see cref="DeemCheckpoint.Load"/> of
    /// the same folder) and the data stream built from its <see cref="TrainerState.Data"/>.
    /// </summary>
    public void Restore(string checkpointDir)
    {
        var state = TrainingCheckpoint.LoadState(checkpointDir);
        if (_zero is not null) _zero.Load(checkpointDir);
        else TrainingCheckpoint.LoadOptimizer(checkpointDir, _groups, _optimizer!);
        state.RestoreRandomStates(_generator);
        Step = state.Step;
    }

    /// <summary>Trains until the stage's steps (or <see cref="TrainerOptions.StopAtStep"/>), saving checkpoints on the way and at the end.</summary>
    public TrainResult Run()
    {
        int total = _stage.Steps, stop = Math.Min(_options.StopAtStep ?? total, total);
        int logEvery = _stage.LogEvery, saveEvery = _stage.SaveEvery;
        int evalEvery = _eval is null ? 0 : _stage.EvalEvery;
        if (Lead) Directory.CreateDirectory(_options.OutDir);
        var leftovers = Lead ? TrainingCheckpoint.CleanLeftovers(_options.OutDir) : [];
        using TextWriter log = Lead ? new StreamWriter(Path.Combine(_options.OutDir, LogFile), append: true) : TextWriter.Null;
        void Info(string line)
        {
            log.WriteLine($"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} {line}");
            log.Flush();
            _observer?.Info(line);
        }
        foreach (var path in leftovers) Info($"removed leftover of an interrupted run: {path}");
        using var metrics = Lead ? new MetricsLog(_options.OutDir, keepUpTo: Step) : null;
        using var board = _options.TensorBoard && Lead ? new TensorBoardWriter(Path.Combine(_options.OutDir, "tensorboard")) : null;
        if (!Lead) evalEvery = 0;
        using var evalLog = evalEvery > 0 ? new EvalLog(_options.OutDir, keepUpTo: Step) : null;
        var evals = new List<EvalMetrics>();
        void Evaluate()
        {
            EvalMetrics e;
            var sd = _model.Diffusion;
            if (sd is not null) sd.PosteriorCache = _evalPosteriors;
            try { e = _eval!.Evaluate(_model, _stage, Step); }
            finally { if (sd is not null) sd.PosteriorCache = _posteriors; }
            evals.Add(e);
            evalLog!.Append(e);
            List<(string, double)> scalars = [("eval/loss", e.Loss), ("eval/ntp", e.Ntp), ("eval/nip", e.Nip), ("eval/csr", e.Csr),
                ("eval/ntp_shuffled_images", e.NtpShuffled)];
            if (e.YesNoAccuracy is double a) scalars.Add(("eval/yes_no_accuracy", a));
            board?.AddScalars(e.Step, scalars);
            string yesNo = e.YesNoAccuracy is double acc && e.YesNoYesRatio is double yr
                ? string.Create(CultureInfo.InvariantCulture, $" | yes/no {acc:P1} right, {yr:P0} yes, of {e.YesNoAnswers}")
                : "";
            Info(string.Create(CultureInfo.InvariantCulture,
                $"eval step {e.Step}: loss {e.Loss:F4} ntp {e.Ntp:F4} nip {e.Nip:F4} csr {e.Csr:F4} | ntp with shuffled images {e.NtpShuffled:F4}{yesNo} ({e.Batches} fixed batches, {e.Seconds:F1} s)"));
        }

        Info($"{_stage.Name}: model {_model.Config.Name} on {_options.Placement}, {_trainable.Sum(p => p.numel()):N0} trainable parameters in {_groups.Count} groups, " +
             $"steps {Step}..{stop} of {total}, batch {_stage.BatchSize} × accum {_stage.GradAccum}, λ ntp/nip/csr {_stage.NtpWeight}/{_stage.NipWeight}/{_stage.CsrWeight}");
        if (_comm.WorldSize > 1 || _options.Collectives is not null)
            Info($"data parallel: {_comm.WorldSize} ranks ({_comm.Backend}), global batch {_stage.BatchSize * _stage.GradAccum * _comm.WorldSize}" +
                 (_zero is null ? "" : $", ZeRO-1: AdamW state of {_zero.ShardSize:N0} of {_zero.Total:N0} elements per rank"));
        if (evalEvery > 0) Info($"eval every {evalEvery} steps on {_eval!.Count} fixed batches from {_eval.Source}");
        _observer?.Begin(new TrainingPlan(Step, stop, total, logEvery));
        if (evalEvery > 0 && Step == 0) Evaluate();
        var history = new List<StepMetrics>();
        string? last = null;
        int lastStep = -1;
        _model.train();
        (long bytes0, int step0) = (_comm.BytesCommunicated, Step);
        while (Step < stop)
        {
            var m = TrainStep();
            history.Add(m);
            metrics?.Append(m);
            board?.AddScalars(m.Step, [("loss/total", m.Loss), ("loss/ntp", m.Ntp), ("loss/nip", m.Nip), ("loss/csr", m.Csr),
                ("train/lr", m.Lr), ("train/grad_norm", m.GradNorm), ("train/step_seconds", m.StepSeconds)]);
            _observer?.Step(m);
            if (!double.IsFinite(m.Loss)) throw new DeemException($"loss is {m.Loss} at step {m.Step} (ntp {m.Ntp}, nip {m.Nip}, csr {m.Csr})");
            if (evalEvery > 0 && (Step % evalEvery == 0 || Step == stop)) Evaluate();
            if (saveEvery > 0 && Step % saveEvery == 0 && Step < stop) { (last, lastStep) = (SaveCheckpoint(), Step); Info($"checkpoint {last}"); }
        }
        if (_posteriors is { Hits: > 0 } or { Misses: > 0 })
            Info(string.Create(CultureInfo.InvariantCulture, $"VAE posterior cache: {_posteriors.Hits:N0} of {_posteriors.Hits + _posteriors.Misses:N0} images answered without an encode, {_posteriors.Count:N0} held ({_posteriors.Bytes / 1048576.0:F1} MiB)"));
        if (_comm.WorldSize > 1 && Step > step0)
            Info($"collectives: {(_comm.BytesCommunicated - bytes0) / (Step - step0):N0} bytes per step handed over by rank {_comm.Rank} ({_comm.Backend})");
        if (last is null || lastStep != Step) { (last, lastStep) = (SaveCheckpoint(), Step); Info($"checkpoint {last}"); }
        if (!Lead)
        {
            _comm.Barrier();
            return new TrainResult(Step, history, _data.SkipTotals, last, evals);
        }
        if (Step == total)
        {
            DeemCheckpoint.Save(_options.OutDir, _model, _tokenizer, new Dictionary<string, string> { ["stage"] = _stage.Name, ["step"] = Step.ToString(CultureInfo.InvariantCulture) });
            Info($"model folder {_options.OutDir}");
        }

        // Bad data: lenient streams count what they skipped; strict ones have thrown already.
        var skips = _data.SkipTotals;
        Info(skips.Count == 0 ? "skipped records: none"
            : "skipped records: " + string.Join(", ", skips.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key} {k.Value}")));
        foreach (var example in _data.Skips.Examples) Info("  skipped " + example);
        // The summary is the run's, also after a resume: its logs hold every step and evaluation up to this one.
        var runEvals = evalLog is null ? evals : EvalLog.Read(evalLog.Path);
        double? finalLoss = history.Count > 0 ? history[^1].Loss : metrics is not null && MetricsLog.Read(metrics.Path) is { Count: > 0 } logged ? logged[^1].Loss : null;
        AtomicFile.WriteAllText(Path.Combine(_options.OutDir, SummaryFile), JsonSerializer.Serialize(new
        {
            step = Step, total_steps = total, stage = _stage.Name, last_checkpoint = last,
            final_loss = finalLoss, skip_counts = skips, skip_examples = _data.Skips.Examples,
            first_eval = runEvals.Count > 0 ? runEvals[0] : null, last_eval = runEvals.Count > 0 ? runEvals[^1] : null,
        }, new JsonSerializerOptions { WriteIndented = true }));
        _observer?.End();
        _comm.Barrier();
        return new TrainResult(Step, history, skips, last, evals);
    }

    /// <summary>One optimiser step over grad_accum micro-batches from the stream.</summary>
    public StepMetrics TrainStep()
    {
        var clock = Stopwatch.StartNew();
        double multiplier = LrSchedule.Multiplier(_stage.Schedule, Step, _stage.WarmupSteps, _stage.Steps);
        if (_optimizer is not null)
            foreach (var (controller, group) in _optimizer.ParamGroups.Zip(_groups))
                controller.LearningRate = group.Lr * multiplier;

        ClearGradients();
        int accum = _stage.GradAccum, ranks = _comm.WorldSize;
        double loss = 0, ntp = 0, nip = 0, csr = 0;
        long images = 0, tokens = 0;
        for (int micro = 0; micro < accum; micro++)
            for (int rank = 0; rank < ranks; rank++)
            {
                using var batch = _data.Next();
                if (rank != _comm.Rank) continue;          // another rank's share of the global batch
                if (_options.Collectives is not null) SeedSlot(micro * ranks + rank);
                var r = Accumulate(batch, 1.0 / (accum * ranks));
                (loss, ntp, nip, csr) = (loss + r.Loss / accum, ntp + r.Ntp / accum, nip + r.Nip / accum, csr + r.Csr / accum);
                (images, tokens) = (images + r.Images, tokens + r.Tokens);
            }
        double gradNorm;
        if (_zero is not null) gradNorm = _zero.Step(multiplier, _stage.MaxGradNorm);
        else
        {
            DataParallel.SumGradients(_comm, _trainable);
            gradNorm = ClipGradients(_stage.MaxGradNorm);
            using (NewDisposeScope()) using (StepProfiler.Time(StepProfiler.Optimizer)) _optimizer!.step();
        }
        if (ranks > 1)
        {
            var sum = DataParallel.SumOverRanks(_comm, loss, ntp, nip, csr, images, tokens);       // rank 0 logs the global batch
            (loss, ntp, nip, csr, images, tokens) = (sum[0] / ranks, sum[1] / ranks, sum[2] / ranks, sum[3] / ranks, (long)sum[4], (long)sum[5]);
        }
        Step++;
        return new StepMetrics
        {
            Step = Step, Lr = _stage.Lr * multiplier, Loss = loss, Ntp = ntp, Nip = nip, Csr = csr, GradNorm = gradNorm,
            StepSeconds = clock.Elapsed.TotalSeconds, Images = images, Tokens = tokens,
        };
    }

    /// <summary>The trainer's and torch's generators seeded by the global micro-batch slot of this step (data parallel).</summary>
    void SeedSlot(int slot)
    {
        long seed = DataParallel.SlotSeed(_options.Seed, Step, slot);
        _generator.manual_seed(seed);
        manual_seed(seed);
    }

    /// <summary>
    /// Forward and backward of one micro-batch, adding <paramref name="scale"/> · ∇loss to the gradients.
    /// The stage's λ weigh the terms; a batch's own NTP/NIP weight (SFT collators) takes precedence.
    /// </summary>
    public MicroStepResult Accumulate(DeemBatch batch, double scale)
    {
        using var scope = NewDisposeScope();
        var input = BatchInput.ForStage(batch, _stage, _generator, _model.Device);
        var output = _model.forward(input);
        using (StepProfiler.Time(StepProfiler.Backward)) (output.Loss * scale).backward();
        return new MicroStepResult(output.Loss.item<float>(), output.Ntp.item<float>(), output.Nip.item<float>(), output.Csr.item<float>(),
            batch.ImageCount, batch.AttentionMask.sum().item<long>());
    }

    /// <summary>Drops every trainable parameter's gradient (PyTorch's <c>zero_grad(set_to_none=True)</c>), so a
    /// parameter the graph does not reach is skipped by AdamW rather than decayed with a zero gradient.</summary>
    public void ClearGradients()
    {
        foreach (var p in _trainable)
        {
            var g = p.grad;
            if (g is null) continue;
            p.grad = null;
            g.Dispose();
        }
    }

    /// <summary>Global L2 norm of the gradients before clipping; clips to <paramref name="maxNorm"/> when it is positive.</summary>
    double ClipGradients(double maxNorm)
    {
        using var scope = NewDisposeScope();   // each read of .grad is a new handle
        var withGrad = _trainable.Where(p => p.grad is not null).ToList();
        if (withGrad.Count == 0) return 0.0;
        if (maxNorm > 0) return nn.utils.clip_grad_norm_(withGrad, maxNorm);
        return stack(withGrad.Select(p => p.grad!.norm()).ToArray()).norm().item<float>();
    }

    /// <summary>Writes a complete checkpoint of the current step under the run folder and prunes old ones; returns its folder.</summary>
    public string SaveCheckpoint()
    {
        string folder = TrainingCheckpoint.PathFor(_options.OutDir, Step);
        var shards = _zero?.GatherState();                 // every rank's AdamW slice (a collective)
        if (!Lead)
        {
            foreach (var t in shards?.Values ?? Enumerable.Empty<Tensor>()) t.Dispose();
            return folder;
        }
        var state = TrainerState.Capture(Step, _stage, _model.Config.Name, _options.Seed, _generator, _data);
        if (shards is null) TrainingCheckpoint.Save(folder, _model, _tokenizer, _groups, _optimizer!, state);
        else
        {
            TrainingCheckpoint.Save(folder, _model, _tokenizer, shards, state);
            foreach (var t in shards.Values) t.Dispose();
        }
        TrainingCheckpoint.Prune(_options.OutDir, _stage.KeepCheckpoints);
        return folder;
    }

    public void Dispose()
    {
        if (_posteriors is not null && _model.Diffusion is { } sd && ReferenceEquals(sd.PosteriorCache, _posteriors)) sd.PosteriorCache = null;
        _optimizer?.Dispose();
        _zero?.Dispose();
        _generator.Dispose();
    }
}
