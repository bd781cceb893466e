using System.Text.Json.Nodes;
using Deem.Benchmarks;
using Deem.Config;
using Deem.Model;
using Deem.Training;
using Deem.World.Benchmarks;

namespace Deem.World.Experiments;

/// <summary>
/// Runs trained and scored one by one (<c>deem train</c>, then <c>deem eval run --bench</c>) read back as
/// <see cref="ArmRun"/>s, so that <see cref="CsrExperimentReport"/> can report them as it reports
/// <c>deem experiment csr</c>'s own runs. Step times are not read: runs made by hand share the machine in
/// unrecorded ways, so their times do not compare (<c>deem bench train-step</c> measures the ratio).
/// </summary>
public static class RunFolders
{
    /// <summary>
    /// One run: the Table-1 columns of <paramref name="evalDir"/>'s <c>suite_scores.json</c>, the POPE
    /// yes-ratio (mean over the splits of <c>pope_scores.json</c>) and <see cref="WorldBreakdown"/>'s columns
    /// where <c>world_breakdown.json</c> exists; with <paramref name="trainDir"/> (the SFT run's folder) also
    /// its seed (from its latest checkpoint) and the image gap of its last fixed-batch evaluation.
    /// </summary>
    /// <param name="evalDir">The <c>--out</c> of <c>deem eval run</c>.</param>
    /// <param name="trainDir">The <c>--out</c> of the run's <c>deem train --stage 2</c>; null when not given.</param>
    /// <param name="seed">The seed reported when <paramref name="trainDir"/> is null.</param>
    public static ArmRun Read(string evalDir, string? trainDir, int seed)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        string suite = Path.Combine(evalDir, BenchmarkSuite.ScoresFileName);
        var scores = ScoresFile.Read(suite);
        foreach (var c in BenchmarkSuiteResult.Columns)
            if (scores[c] is JsonValue v && v.TryGetValue(out double x)) metrics[c] = x;
        if (metrics.Count == 0) throw new DeemFormatException(suite, "holds none of the benchmark columns (" + string.Join(", ", BenchmarkSuiteResult.Columns) + ")");

        string pope = Path.Combine(evalDir, PopeRunner.ScoresFileName);
        if (File.Exists(pope))
        {
            var ratios = ScoresFile.Read(pope).Select(kv => (kv.Value as JsonObject)?["yes_ratio"]).OfType<JsonValue>().Select(v => v.GetValue<double>()).ToList();
            if (ratios.Count > 0) metrics[CsrExperimentReport.YesRatioColumn] = ratios.Average();
        }
        string breakdown = Path.Combine(evalDir, WorldBreakdown.FileName);
        if (File.Exists(breakdown))
            foreach (var (k, v) in ScoresFile.Read(breakdown))
                if (v is JsonValue value && value.TryGetValue(out double x)) metrics[k] = x;

        if (trainDir is not null)
        {
            seed = TrainingCheckpoint.LoadState(TrainingCheckpoint.FindLatest(trainDir)).Seed;
            string evalLog = Path.Combine(trainDir, EvalLog.FileName);
            if (File.Exists(evalLog) && EvalLog.Read(evalLog) is { Count: > 0 } evals)
                metrics[CsrExperimentReport.ImageGapColumn] = evals[^1].NtpShuffled - evals[^1].Ntp;
        }
        return new ArmRun(seed, metrics, double.NaN, double.NaN);
    }

    /// <summary>
    /// An arm from <c>NAME=RUN[,RUN…]</c>, each RUN an eval folder optionally followed by <c>@</c> and its
    /// training folder (<see cref="Read"/>); runs without a training folder are numbered 0, 1, … in order.
    /// The arm's architecture is its training folders' (<c>deem_config.json</c>'s "arch"; "deem" when no run
    /// names one), and it trained with CSR when their last checkpoints' λ_CSR is above 0 (false when no run names a
    /// training folder); runs of two architectures, or with and without CSR, in one arm are refused.
    /// </summary>
    public static ExperimentArm ParseArm(string spec)
    {
        int eq = spec.IndexOf('=');
        string name = eq > 0 ? spec[..eq].Trim() : throw new DeemConfigException("--arm", "arm", $"'{spec}' is not NAME=EVAL[@TRAIN][,EVAL[@TRAIN]…]");
        var parts = spec[(eq + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new DeemConfigException("--arm", "arm", $"'{name}' names no run");
        var folders = parts.Select(p => p.IndexOf('@') is var at && at < 0 ? (Eval: p, Train: (string?)null) : (Eval: p[..at], Train: p[(at + 1)..])).ToList();
        var runs = folders.Select((f, i) => Read(f.Eval, f.Train, i)).ToList();
        var archs = folders.Where(f => f.Train is not null)
            .Select(f => DeemConfig.Load(Path.Combine(f.Train!, DeemCheckpoint.ConfigFile)).Arch).Distinct().ToList();
        if (archs.Count > 1)
            throw new DeemConfigException("--arm", "arm", $"'{name}' mixes runs of the architectures {string.Join(" and ", archs)}");
        var csr = folders.Where(f => f.Train is not null)
            .Select(f => TrainingCheckpoint.LoadState(TrainingCheckpoint.FindLatest(f.Train!)).Stage.CsrWeight > 0).Distinct().ToList();
        if (csr.Count > 1)
            throw new DeemConfigException("--arm", "arm", $"'{name}' mixes runs trained with and without CSR (λ_CSR in their trainer states)");
        return new ExperimentArm(name, archs.Count == 1 ? archs[0] : "deem", Csr: csr is [true], runs);
    }

    /// <summary>
    /// The differences a report gives, from <c>WITH:WITHOUT</c> specs (<c>--compare</c>, repeatable) over
    /// <paramref name="arms"/>; none given: the first two arms when they share an architecture (else none), the one
    /// trained with CSR first when only one of them was (else as <c>deem experiment csr</c> orders them, CSR arm first).
    /// CSR's effect is measured within one architecture, and the paper figure printed beside a pair is its
    /// architecture's, so a pair across two is refused; so is a pair whose WITH arm trained without CSR and whose
    /// WITHOUT arm with it (the report would print "without − with" as CSR's effect).
    /// </summary>
    public static IReadOnlyList<(string With, string Without)> ParseComparisons(IEnumerable<string> specs, IReadOnlyList<ExperimentArm> arms)
    {
        var names = arms.Select(a => a.Name).ToList();
        string ArchOf(string name) => arms.First(a => a.Name == name).Arch;
        bool CsrOf(string name) => arms.First(a => a.Name == name).Csr;
        var comparisons = new List<(string, string)>();
        foreach (var c in specs)
        {
            var pair = c.Split(':', StringSplitOptions.TrimEntries);
            if (pair.Length != 2 || !names.Contains(pair[0]) || !names.Contains(pair[1]) || pair[0] == pair[1])
                throw new DeemConfigException("--compare", "compare", $"'{c}' is not WITH:WITHOUT of two of the arms {string.Join(", ", names)}");
            if (comparisons.Contains((pair[0], pair[1])))
                throw new DeemConfigException("--compare", "compare", $"'{c}' is given twice");
            if (ArchOf(pair[0]) != ArchOf(pair[1]))
                throw new DeemConfigException("--compare", "compare",
                    $"'{c}' pairs arms of two architectures ({ArchOf(pair[0])} and {ArchOf(pair[1])}); CSR's effect is measured within one");
            if (!CsrOf(pair[0]) && CsrOf(pair[1]))
                throw new DeemConfigException("--compare", "compare",
                    $"'{c}' puts {pair[0]}, trained without CSR, before {pair[1]}, trained with it; give WITH:WITHOUT, {pair[1]}:{pair[0]}");
            comparisons.Add((pair[0], pair[1]));
        }
        if (comparisons.Count == 0 && arms.Count >= 2 && arms[0].Arch == arms[1].Arch)
            comparisons.Add(!arms[0].Csr && arms[1].Csr ? (names[1], names[0]) : (names[0], names[1]));
        return comparisons;
    }
}
