using Deem.Model;
using Deem.Distributed;

namespace Deem.Training;

/// <summary>Run options that are not part of the stage config.</summary>
public sealed record TrainerOptions
{
    /// <summary>The run folder: metrics.jsonl, train.log, tensorboard/, checkpoints/, and at the end the model folder.</summary>
    public required string OutDir { get; init; }
    /// <summary>Seed of the trainer's generator and of torch's global generator.</summary>
    public int Seed { get; init; }
    /// <summary>Stop after this step without changing the schedule (an interrupted run); null runs to the stage's steps.</summary>
    public int? StopAtStep { get; init; }
    /// <summary>Overrides the stage's log_every / save_every (0 saves only at the end).</summary>
    public int? LogEvery { get; init; }
    public int? SaveEvery { get; init; }
    /// <summary>Overrides the stage's eval_every (steps between <see cref="EvalSet"/> evaluations; 0 = none).</summary>
    public int? EvalEvery { get; init; }
    /// <summary>Overrides the stage's keep_checkpoints (the newest complete checkpoints kept; 0 keeps all).</summary>
    public int? KeepCheckpoints { get; init; }
    public bool TensorBoard { get; init; } = true;
    /// <summary>The ranks of a data-parallel job (<see cref="Distributed.Collectives.Open"/>, launched by <c>mpirun</c>); null trains in this process alone.</summary>
    public ICollectives? Collectives { get; init; }
    /// <summary>ZeRO-1: AdamW state sharded across the ranks by flat ranges (<see cref="ZeroAdamW"/>).</summary>
    public bool Zero1 { get; init; }
    /// <summary>The device, and the dtype of the frozen towers (<see cref="PlacementPolicy.ApplyForTraining"/>); trainable weights stay fp32.</summary>
    public Placement Placement { get; init; } = Placement.Default;
    /// <summary>
    /// Capacity of the run's <see cref="Diffusion.VaePosteriorCache"/> (the frozen VAE's posterior of every image seen,
    /// reused in later epochs by NIP and CSR; CPU images only); 0 encodes every image at every step.
    /// </summary>
    public long VaePosteriorCacheBytes { get; init; } = Diffusion.VaePosteriorCache.DefaultCapacityBytes;
}

/// <summary>What a finished <see cref="Trainer.Run"/> reports.</summary>
public sealed record TrainResult(int Step, IReadOnlyList<StepMetrics> Metrics, IReadOnlyDictionary<string, int> SkipTotals, string? LastCheckpoint,
    IReadOnlyList<EvalMetrics> Evals);

/// <summary>Loss terms and sizes of one micro-batch (unweighted terms; <see cref="Loss"/> is the weighted total).</summary>
public sealed record MicroStepResult(double Loss, double Ntp, double Nip, double Csr, long Images, long Tokens);
