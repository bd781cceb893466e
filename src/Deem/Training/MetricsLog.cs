using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Deem.Training;

/// <summary>A record of a JSON-lines log keyed by optimiser step.</summary>
public interface IStepRecord
{
    int Step { get; }
}

/// <summary>
/// One optimiser step's numbers (paper §2.3 objective terms, averaged over the step's micro-batches).
/// <see cref="Loss"/> is λ_NTP·NTP + λ_NIP·NIP + λ_CSR·CSR; the terms are unweighted.
/// </summary>
public sealed record StepMetrics : IStepRecord
{
    /// <summary>The step number after this update (1 for the first step).</summary>
    [JsonPropertyName("step")] public int Step { get; init; }
    /// <summary>The base group's learning rate at this step (stage lr × schedule multiplier).</summary>
    [JsonPropertyName("lr")] public double Lr { get; init; }
    [JsonPropertyName("loss")] public double Loss { get; init; }
    [JsonPropertyName("ntp")] public double Ntp { get; init; }
    [JsonPropertyName("nip")] public double Nip { get; init; }
    [JsonPropertyName("csr")] public double Csr { get; init; }
    /// <summary>Global L2 norm of the gradient before clipping.</summary>
    [JsonPropertyName("grad_norm")] public double GradNorm { get; init; }
    [JsonPropertyName("step_seconds")] public double StepSeconds { get; init; }
    /// <summary>Images in the step's micro-batches.</summary>
    [JsonPropertyName("images")] public long Images { get; init; }
    /// <summary>Non-padding tokens in the step's micro-batches.</summary>
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
}

/// <summary>
/// A JSON-lines file of <typeparamref name="T"/>, one object per line, flushed on each append. A resumed
/// run first drops the lines after its checkpoint's step, so the file holds each step once.
/// </summary>
public class StepLog<T> : IDisposable where T : IStepRecord
{
    static readonly JsonSerializerOptions Options = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    readonly StreamWriter _writer;

    /// <summary>Opens <paramref name="path"/> for appending, keeping only lines with step ≤ <paramref name="keepUpTo"/>.</summary>
    protected StepLog(string path, int keepUpTo)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        Path = path;
        if (File.Exists(Path))
        {
            var kept = ReadFile(Path).Where(m => m.Step <= keepUpTo).Select(m => JsonSerializer.Serialize(m, Options)).ToList();
            Deem.IO.AtomicFile.WriteAllText(Path, kept.Count == 0 ? "" : string.Join("\n", kept) + "\n");
        }
        _writer = new StreamWriter(new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read));
    }

    public string Path { get; }

    public void Append(T record)
    {
        _writer.WriteLine(JsonSerializer.Serialize(record, Options));
        _writer.Flush();
    }

    /// <summary>Reads a log; a torn last line (a killed run) is ignored, any other bad line names file and line.</summary>
    protected static List<T> ReadFile(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "log file not found");
        var lines = File.ReadAllLines(path);
        var result = new List<T>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            try { result.Add(JsonSerializer.Deserialize<T>(lines[i], Options)!); }
            catch (JsonException e) when (i == lines.Length - 1) { _ = e; }
            catch (JsonException e) { throw new DeemFormatException(path, $"bad log line: {e.Message}", "line " + (i + 1).ToString(CultureInfo.InvariantCulture), e); }
        }
        return result;
    }

    public void Dispose() => _writer.Dispose();
}

/// <summary><c>metrics.jsonl</c>: one <see cref="StepMetrics"/> per optimiser step, read back by <c>deem plot</c>.</summary>
public sealed class MetricsLog(string runDir, int keepUpTo) : StepLog<StepMetrics>(System.IO.Path.Combine(runDir, FileName), keepUpTo)
{
    public const string FileName = "metrics.jsonl";

    public static List<StepMetrics> Read(string path) => ReadFile(path);
}

/// <summary><c>eval.jsonl</c>: one <see cref="EvalMetrics"/> per fixed-batch evaluation (<see cref="EvalSet"/>).</summary>
public sealed class EvalLog(string runDir, int keepUpTo) : StepLog<EvalMetrics>(System.IO.Path.Combine(runDir, FileName), keepUpTo)
{
    public const string FileName = "eval.jsonl";

    public static List<EvalMetrics> Read(string path) => ReadFile(path);
}
