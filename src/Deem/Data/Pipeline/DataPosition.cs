using System.Text.Json;
using System.Text.Json.Serialization;
using Deem.Data.Images;
using Deem.IO;

namespace Deem.Data.Pipeline;

/// <summary>Where one source of a data stream stands: its record stream position, its random state and
/// (stage 1) the packing buffer's ids and images.</summary>
public sealed record SourcePosition
{
    [JsonPropertyName("epoch")] public int Epoch { get; init; }
    [JsonPropertyName("file")] public int File { get; init; }
    [JsonPropertyName("record")] public long Record { get; init; }
    [JsonPropertyName("rng_state")] public ulong RngState { get; init; }
    [JsonPropertyName("buffer_ids")] public int[] BufferIds { get; init; } = [];
    [JsonPropertyName("buffer_images")] public ImageRef[] BufferImages { get; init; } = [];

    internal StreamPosition Stream => new(Epoch, File, Record);
}

/// <summary>
/// A serialisable data position: everything a data stream needs to continue exactly where it was, so
/// <c>--resume</c> yields the batches the uninterrupted run would have yielded (per-source epoch, file
/// and record, random states, packing buffers, batches taken, skip counts so far). Written next to a
/// checkpoint as JSON.
/// </summary>
public sealed record DataPosition
{
    static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Stage the position belongs to (a stage-2 position cannot resume a stage-1 stream).</summary>
    [JsonPropertyName("stage")] public int Stage { get; init; }
    /// <summary>Batches yielded so far.</summary>
    [JsonPropertyName("batches")] public long Batches { get; init; }
    /// <summary>Random state of the batch-level choices (the stage-1 source mix).</summary>
    [JsonPropertyName("mix_rng_state")] public ulong MixRngState { get; init; }
    [JsonPropertyName("sources")] public Dictionary<string, SourcePosition> Sources { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Skipped records per reason up to this position.</summary>
    [JsonPropertyName("skip_counts")] public Dictionary<string, int> SkipCounts { get; init; } = new(StringComparer.Ordinal);

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public static DataPosition Parse(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<DataPosition>(json, Options) ?? throw new DeemFormatException(source, "empty data position");
        }
        catch (JsonException e) { throw new DeemFormatException(source, $"not a data position: {e.Message}", e.Path, e); }
    }

    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    public static DataPosition Load(string path) =>
        File.Exists(path) ? Parse(File.ReadAllText(path), path) : throw new DeemFormatException(path, "data position not found");

    internal SourcePosition Source(string name, string what) =>
        Sources.TryGetValue(name, out var s) ? s : throw new DeemFormatException(what, $"data position has no source '{name}'", "sources");
}
