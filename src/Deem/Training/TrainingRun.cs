using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Distributed;
using Deem.IO;
using Deem.Model;
using Deem.Text;

namespace Deem.Training;

/// <summary>
/// Where a training run starts: a fresh model of a preset, a model folder (<see cref="Init"/>, the
/// previous stage's output), or the last complete checkpoint of a run to continue (<see cref="Resume"/>).
/// </summary>
public sealed record TrainingRunOptions
{
    /// <summary>The run folder: logs, metrics, checkpoints, the final model folder.</summary>
    public required string OutDir { get; init; }
    /// <summary>The stage's training data.</summary>
    public required DataPaths Data { get; init; }
    /// <summary>1 alignment, 2 image-text SFT, 3 mask-text SFT; a resumed checkpoint must be of this stage.</summary>
    public required int Stage { get; init; }
    /// <summary>Model and recipe preset of a fresh run.</summary>
    public string Preset { get; init; } = "tiny";
    /// <summary>Stage 1 as the DEEM* baseline (no CSR, ConvNeXt frozen, UNet trainable).</summary>
    public bool NoCsr { get; init; }
    /// <summary>Train this many steps (schedule and warm-up scaled to it); null: the recipe's.</summary>
    public int? Steps { get; init; }
    /// <summary>Seed of the weights, noise and timesteps; null: the recipe's.</summary>
    public int? Seed { get; init; }
    /// <summary>A model folder to start from; null: a fresh model.</summary>
    public string? Init { get; init; }
    /// <summary>The tokenizer of a fresh model (it sizes the tiny presets), and of an init folder without its own.</summary>
    public ITextTokenizer? Tokenizer { get; init; }
    /// <summary>Build the <see cref="Init"/> folder's model as this architecture ("deem" or "llava"); null: the folder's.</summary>
    public string? Arch { get; init; }
    /// <summary>λ_CSR instead of the recipe's (0: no CSR term); null: the recipe's.</summary>
    public double? CsrWeight { get; init; }
    /// <summary>A run folder or checkpoint to continue from; null: a new run.</summary>
    public string? Resume { get; init; }
    /// <summary>Rows per micro-batch on each rank; null: the recipe's (or the checkpoint's).</summary>
    public int? BatchSize { get; init; }
    /// <summary>Micro-batches per optimiser step on each rank; null: the recipe's (or the checkpoint's).</summary>
    public int? GradAccum { get; init; }
    /// <summary>Malformed records are errors naming file and line, not counted skips.</summary>
    public bool Strict { get; init; }
    /// <summary>Where the fixed evaluation batches come from (null: <see cref="Data"/>, another shuffle), named by <see cref="EvalSource"/>.</summary>
    public DataPaths? EvalData { get; init; }
    /// <summary>The name of the evaluation data in the logs.</summary>
    public string EvalSource { get; init; } = "";
    /// <summary>Fixed evaluation batches instead of the recipe's eval_batches (recorded, so a resumed run keeps them); null: the recipe's.</summary>
    public int? EvalBatches { get; init; }
    /// <summary>Cadences, stop step, ZeRO-1 and collectives, passed to the trainer as they are (its out dir and seed are set here).</summary>
    public TrainerOptions Trainer { get; init; } = new() { OutDir = "" };
}

/// <summary>
/// A run ready to train: the model, its tokenizer, the batch stream, the evaluation set and the
/// trainer, built the one way every caller (CLI, experiments) builds them. The loop itself stays in
/// <see cref="Training.Trainer.Run"/>. Disposes all it built.
/// </summary>
public sealed class TrainingRun : IDisposable
{
    public required DeemModel Model { get; init; }
    public required ITextTokenizer Tokenizer { get; init; }
    public required StageConfig Stage { get; init; }
    public required IBatchStream Data { get; init; }
    public EvalSet? Eval { get; init; }
    public required Trainer Trainer { get; init; }
    /// <summary>What loading <see cref="TrainingRunOptions.Init"/> did; null for a fresh or resumed run.</summary>
    public LoadReport? InitReport { get; init; }
    /// <summary>The checkpoint a resumed run continues from, and its step; null for a new run.</summary>
    public (string Checkpoint, int Step)? ResumedFrom { get; init; }

    /// <summary>Builds the run <paramref name="o"/> describes; <paramref name="observer"/> gets the trainer's progress.</summary>
    public static TrainingRun Open(TrainingRunOptions o, ITrainingObserver? observer = null)
    {
        if (o.Resume is not null)
        {
            string checkpoint = TrainingCheckpoint.FindLatest(o.Resume);
            var state = TrainingCheckpoint.LoadState(checkpoint);
            if (state.Stage.Stage != o.Stage)
                throw new DeemException($"--stage {o.Stage}: the checkpoint {checkpoint} is of stage {state.Stage.Stage}");
            // Resuming on another number of ranks: the batch split may change, the global batch should not.
            var stage = WithEvalBatches(WithBatch(state.Stage, o.BatchSize, o.GradAccum), o.EvalBatches);
            var (model, tokenizer) = DeemCheckpoint.Load(checkpoint);
            var run = Assemble(o, model, tokenizer, stage, state.Seed, state.Data, observer, null, (checkpoint, state.Step));
            run.Trainer.Restore(checkpoint);
            return run;
        }
        var config = TrainingSetup.StageConfigFor(o.Preset, o.Stage, o.NoCsr);
        if (o.Steps is int n) config = TrainingSetup.WithSteps(config, n);
        if (o.CsrWeight is double csr)
            config = config with { CsrWeight = csr >= 0 ? csr : throw new DeemConfigException("--csr-weight", "csr_weight", $"must be >= 0, found {csr}") };
        config = WithEvalBatches(WithBatch(config, o.BatchSize, o.GradAccum), o.EvalBatches);
        int seed = o.Seed ?? config.Seed;
        var (m, t, report) = TrainingSetup.BuildModel(o.Preset, config, o.Init, seed, o.Tokenizer, o.Arch);
        return Assemble(o, m, t, config.ForModel(m.Config), seed, null, observer, report, null);
    }

    static TrainingRun Assemble(TrainingRunOptions o, DeemModel model, ITextTokenizer tokenizer, StageConfig stage, int seed,
        DataPosition? position, ITrainingObserver? observer, LoadReport? report, (string, int)? resumed)
    {
        IBatchStream? data = null;
        EvalSet? eval = null;
        try
        {
            data = TrainingSetup.OpenStream(stage, o.Data, tokenizer, model.Config.ImageTokens, o.Strict, position);
            if ((o.Trainer.EvalEvery ?? stage.EvalEvery) > 0)
                eval = TrainingSetup.OpenEvalSet(stage, o.EvalData ?? o.Data, tokenizer, model.Config.ImageTokens, o.EvalSource);
            var trainer = new Trainer(model, tokenizer, stage, data, o.Trainer with { OutDir = o.OutDir, Seed = seed }, observer, eval);
            return new TrainingRun
            {
                Model = model, Tokenizer = tokenizer, Stage = stage, Data = data, Eval = eval, Trainer = trainer,
                InitReport = report, ResumedFrom = resumed,
            };
        }
        catch
        {
            eval?.Dispose();
            data?.Dispose();
            model.Dispose();
            throw;
        }
    }

    /// <summary>The recipe with <paramref name="batches"/> fixed evaluation batches (null: as it is); must be positive.</summary>
    static StageConfig WithEvalBatches(StageConfig config, int? batches) => batches switch
    {
        null => config,
        > 0 => config with { EvalBatches = batches.Value },
        _ => throw new DeemConfigException("--eval-batches", "eval_batches", $"must be > 0, found {batches}"),
    };

    /// <summary>The recipe with the given batch split; each must be positive.</summary>
    public static StageConfig WithBatch(StageConfig config, int? batch, int? accum)
    {
        if (batch is <= 0) throw new DeemConfigException("--batch-size", "batch_size", $"must be > 0, found {batch}");
        if (accum is <= 0) throw new DeemConfigException("--grad-accum", "grad_accum", $"must be > 0, found {accum}");
        return config with { BatchSize = batch ?? config.BatchSize, GradAccum = accum ?? config.GradAccum };
    }

    /// <summary>Trains to the end of the schedule (or the stop step).</summary>
    public TrainResult Run() => Trainer.Run();

    public void Dispose()
    {
        Trainer.Dispose();
        Eval?.Dispose();
        Data.Dispose();
        Model.Dispose();
    }
}
