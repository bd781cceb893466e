namespace Deem.Diagnostics.Fuzz;

/// <summary>The fuzz targets by name, and which of them the test suite holds to zero crashes.</summary>
public static class FuzzTargets
{
    /// <summary>Every target, in the order <c>deem fuzz --target all</c> runs them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["safetensors", "zip-pickle", "pickle", "index", "jsonl", "image", "config"];

    /// <summary>
    /// The targets the suite asserts zero crashes and wrong results on: every target.
    /// </summary>
    public static IReadOnlyList<string> Guarded { get; } = ["safetensors", "zip-pickle", "pickle", "index", "jsonl", "image", "config"];

    /// <summary>A fresh target (it owns a scratch folder; dispose it).</summary>
    public static FuzzTarget Create(string name) => name switch
    {
        "safetensors" => new SafetensorsFuzzTarget(),
        "zip-pickle" => new TorchZipFuzzTarget(),
        "pickle" => new TorchPickleFuzzTarget(),
        "index" => new ShardedIndexFuzzTarget(),
        "jsonl" => new JsonlFuzzTarget(),
        "image" => new ImageFuzzTarget(),
        "config" => new ConfigFuzzTarget(),
        _ => throw new DeemConfigException("--target", "target", $"unknown fuzz target '{name}' (known: {string.Join(", ", Names)}, all)"),
    };

    /// <summary>
    /// Runs the named targets (or "all") and returns one report each; <paramref name="more"/> adds targets
    /// that live outside the core (e.g. the server's request reader).
    /// </summary>
    public static IReadOnlyList<FuzzReport> Run(string target, int cases, int seed, IReadOnlyDictionary<string, Func<FuzzTarget>>? more = null)
    {
        more ??= new Dictionary<string, Func<FuzzTarget>>();
        var names = target == "all" ? [.. Names, .. more.Keys] : new[] { target };
        var reports = new List<FuzzReport>();
        foreach (var n in names)
        {
            using var t = more.TryGetValue(n, out var create) ? create() : Create(n);
            reports.Add(Fuzzer.Run(t, cases, seed));
        }
        return reports;
    }
}
