namespace Deem.Training;

/// <summary>
/// Learning-rate multipliers per optimiser step (reference §3, Table 11): linear warm-up from 0 to 1
/// over <c>warmup</c> steps, then cosine decay to 0 at <c>total</c> (HF
/// <c>get_cosine_schedule_with_warmup</c> with half a cycle), linear decay, or constant.
/// </summary>
public static class LrSchedule
{
    public static double Multiplier(string schedule, int step, int warmup, int total)
    {
        if (step < warmup) return (double)step / Math.Max(1, warmup);
        double progress = (double)(step - warmup) / Math.Max(1, total - warmup);
        progress = Math.Clamp(progress, 0.0, 1.0);
        return schedule switch
        {
            "cosine" => 0.5 * (1.0 + Math.Cos(Math.PI * progress)),
            "linear" => 1.0 - progress,
            "constant" => 1.0,
            _ => throw new ArgumentException($"unknown schedule '{schedule}'", nameof(schedule)),
        };
    }
}
