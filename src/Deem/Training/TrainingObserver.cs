using System.Globalization;

namespace Deem.Training;

/// <summary>Where a training run starts and ends (steps are optimiser steps).</summary>
/// <param name="StartStep">Steps already done (0, or the resumed checkpoint's step).</param>
/// <param name="StopStep">The step this run stops at.</param>
/// <param name="TotalSteps">The schedule's length (the stage's steps).</param>
/// <param name="LogEvery">Steps between plain log lines.</param>
public sealed record TrainingPlan(int StartStep, int StopStep, int TotalSteps, int LogEvery);

/// <summary>
/// Receives a run's progress: the command line shows a progress bar on a terminal and plain lines when
/// the output is redirected (<see cref="PlainTrainingObserver"/>); tests pass none.
/// </summary>
public interface ITrainingObserver
{
    void Begin(TrainingPlan plan);
    void Step(StepMetrics metrics);
    /// <summary>A line for the user (checkpoints written, skipped records, the summary).</summary>
    void Info(string message);
    void End();
}

/// <summary>One line per <see cref="TrainingPlan.LogEvery"/> steps (and the last step): step/total, loss terms, lr, it/s, ETA.</summary>
public sealed class PlainTrainingObserver(TextWriter writer) : ITrainingObserver
{
    TrainingPlan _plan = new(0, 0, 0, 1);
    double _seconds;
    int _steps;

    public void Begin(TrainingPlan plan)
    {
        _plan = plan;
        writer.WriteLine($"training steps {plan.StartStep}..{plan.StopStep} of {plan.TotalSteps}");
    }

    public void Step(StepMetrics m)
    {
        _seconds += m.StepSeconds;
        _steps++;
        if (m.Step % Math.Max(1, _plan.LogEvery) != 0 && m.Step != _plan.StopStep) return;
        writer.WriteLine(Format(m, _plan, _steps / Math.Max(_seconds, 1e-9)));
    }

    public void Info(string message) => writer.WriteLine(message);

    public void End() => writer.Flush();

    /// <summary>"step 10/300 loss 9.1234 ntp … lr 3.0e-4 1.52 it/s ETA 0:03:11".</summary>
    public static string Format(StepMetrics m, TrainingPlan plan, double itPerSecond)
    {
        var eta = TimeSpan.FromSeconds((plan.StopStep - m.Step) / Math.Max(itPerSecond, 1e-9));
        return string.Create(CultureInfo.InvariantCulture,
            $"step {m.Step}/{plan.StopStep} loss {m.Loss:F4} ntp {m.Ntp:F4} nip {m.Nip:F4} csr {m.Csr:F4} grad {m.GradNorm:F3} lr {m.Lr:0.0e+0} {itPerSecond:F2} it/s ETA {eta:h\\:mm\\:ss}");
    }
}
