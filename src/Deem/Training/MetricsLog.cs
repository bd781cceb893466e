using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Deem.Training;

/// <summary>
/// One optimiser step's numbers (paper §2.3 objective terms, averaged over the step's micro-batches).
/// <see cref="Loss"/> is λ_NTP·NTP + λ_NIP·NIP + λ_CSR·CSR; the terms are unweighted.
/// </summary>
public sealed record StepMetrics
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
/// <c>metrics.jsonl</c>: one <see cref="StepMetrics"/> JSON object per line, flushed each step, read back
/// by <c>deem plot</c>. A resumed run first drops the lines after its checkpoint's step, so the file
/// holds each step once.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    public const string FileName = "metrics.jsonl";
    static readonly JsonSerializerOptions Options = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    readonly StreamWriter _writer;

    /// <summary>Opens <c>{runDir}/metrics.jsonl</c> for appending, keeping only lines with step ≤ <paramref name="keepUpTo"/>.</summary>
    public MetricsLog(string runDir, int keepUpTo)
    {
        Directory.CreateDirectory(runDir);
        Path = System.IO.Path.Combine(runDir, FileName);
        if (File.Exists(Path))
        {
            var kept = Read(Path).Where(m => m.Step <= keepUpTo).Select(m => JsonSerializer.Serialize(m, Options)).ToList();
            Deem.IO.AtomicFile.WriteAllText(Path, kept.Count == 0 ? "" : string.Join("\n", kept) + "\n");
        }
        _writer = new StreamWriter(new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read));
    }

    public string Path { get; }

    public void Append(StepMetrics m)
    {
        _writer.WriteLine(JsonSerializer.Serialize(m, Options));
        _writer.Flush();
    }

    /// <summary>Reads a metrics file; a torn last line (a killed run) is ignored, any other bad line names file and line.</summary>
    public static List<StepMetrics> Read(string path)
    {
        if (!File.Exists(path)) throw new DeemFormatException(path, "metrics file not found");
        var lines = File.ReadAllLines(path);
        var result = new List<StepMetrics>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            try { result.Add(JsonSerializer.Deserialize<StepMetrics>(lines[i], Options)!); }
            catch (JsonException e) when (i == lines.Length - 1) { _ = e; }
            catch (JsonException e) { throw new DeemFormatException(path, $"bad metrics line: {e.Message}", "line " + (i + 1).ToString(CultureInfo.InvariantCulture), e); }
        }
        return result;
    }

    public void Dispose() => _writer.Dispose();
}
