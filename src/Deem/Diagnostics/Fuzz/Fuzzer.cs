namespace Deem.Diagnostics.Fuzz;

/// <summary>Counts per outcome of one target's run, with the first few crashes and wrong results.</summary>
public sealed record FuzzReport(string Target, int Cases, int Ok, int TypedErrors, int Crashes, int WrongResults,
    IReadOnlyList<string> Findings, double Seconds);

/// <summary>
/// Runs seeded fuzz cases against a <see cref="FuzzTarget"/>: the seeds as they are first, then mutations of
/// them. Case i is reproducible from (seed, i) alone. Every case is classified as
/// <see cref="FuzzOutcome"/>; only <see cref="FuzzOutcome.Ok"/> and <see cref="FuzzOutcome.TypedError"/>
/// are acceptable.
/// </summary>
public static class Fuzzer
{
    /// <summary>The input of case <paramref name="index"/>.</summary>
    public static byte[] CaseInput(FuzzTarget target, int seed, int index)
    {
        var seeds = target.Seeds;
        if (index < seeds.Count) return seeds[index];
        var mutator = new Mutator(unchecked((int)(seed * 1_000_003L + index)));
        var start = seeds[(int)((uint)(seed + index) % (uint)seeds.Count)];
        return mutator.Mutate(start, seeds);
    }

    /// <summary>Runs one case and classifies it; <paramref name="finding"/> describes any outcome but ok.</summary>
    public static FuzzOutcome RunCase(FuzzTarget target, byte[] input, out string? finding)
    {
        finding = null;
        try
        {
            if (target.Check(input)) return FuzzOutcome.Ok;
            finding = "accepted with a wrong result";
            return FuzzOutcome.WrongResult;
        }
        catch (DeemException e)
        {
            finding = e.Message;
            return FuzzOutcome.TypedError;
        }
        catch (Exception e)
        {
            var frame = new System.Diagnostics.StackTrace(e).GetFrames().FirstOrDefault(f => f.GetMethod()?.DeclaringType?.Namespace?.StartsWith("Deem", StringComparison.Ordinal) == true);
            string where = frame?.GetMethod() is { } m ? $" in {m.DeclaringType?.Name}.{m.Name}" : "";
            finding = $"{e.GetType().Name}{where}: {e.Message.ReplaceLineEndings(" ")}";
            return FuzzOutcome.Crash;
        }
    }

    /// <summary>Runs <paramref name="cases"/> cases (the seeds included) with base seed <paramref name="seed"/>.</summary>
    public static FuzzReport Run(FuzzTarget target, int cases, int seed)
    {
        if (cases < 1) throw new DeemConfigException("--cases", "cases", $"must be at least 1, found {cases}");
        var counts = new int[4];
        var findings = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < cases; i++)
        {
            var outcome = RunCase(target, CaseInput(target, seed, i), out string? finding);
            if (i < target.Seeds.Count && outcome != FuzzOutcome.Ok)
            {
                outcome = FuzzOutcome.WrongResult; // a valid seed must be accepted
                finding = $"seed rejected: {finding}";
            }
            counts[(int)outcome]++;
            if (outcome is FuzzOutcome.Crash or FuzzOutcome.WrongResult && findings.Count < 10) findings.Add($"case {i}: {finding}");
        }
        return new FuzzReport(target.Name, cases, counts[0], counts[1], counts[2], counts[3], findings, clock.Elapsed.TotalSeconds);
    }
}
