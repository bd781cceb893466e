using System.Text.Json;
using System.Text.Json.Serialization;
using Deem.Config;
using Deem.Data.Pipeline;
using TorchSharp;

namespace Deem.Training;

/// <summary>
/// The JSON sidecar <c>trainer_state.json</c> of a training checkpoint: everything besides tensors that
/// a resumed run needs to continue exactly (the optimiser step, the effective stage config, both random
/// states, the data position and skip counts) plus the versions that wrote it. It is written last, so a
/// checkpoint folder is complete exactly when this file exists.
/// </summary>
public sealed record TrainerState
{
    public const string FormatName = "deem-trainer-state";
    public const int CurrentVersion = 1;

    static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    [JsonPropertyName("format")] public string Format { get; init; } = FormatName;
    [JsonPropertyName("version")] public int Version { get; init; } = CurrentVersion;
    /// <summary>Optimiser steps done (the next step to run has this index).</summary>
    [JsonPropertyName("step")] public int Step { get; init; }
    /// <summary>The stage config the run trains with (after <c>--steps</c> / <c>--no-csr</c>); a resumed run uses it.</summary>
    [JsonPropertyName("stage_config")] public required StageConfig Stage { get; init; }
    /// <summary>The model config's name (<see cref="DeemConfig.Name"/>).</summary>
    [JsonPropertyName("model_config")] public string ModelConfig { get; init; } = "";
    [JsonPropertyName("seed")] public int Seed { get; init; }
    /// <summary>State of the trainer's generator (noise, timesteps, CFG swap), base64 of libtorch's byte tensor.</summary>
    [JsonPropertyName("generator_state")] public string GeneratorState { get; init; } = "";
    /// <summary>State of torch's global CPU generator (dropout, drop path), base64.</summary>
    [JsonPropertyName("torch_rng_state")] public string TorchRngState { get; init; } = "";
    [JsonPropertyName("data_position")] public required DataPosition Data { get; init; }
    /// <summary>Skipped records per reason up to this step (also inside the data position).</summary>
    [JsonPropertyName("skip_counts")] public Dictionary<string, int> SkipCounts { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Library versions that wrote the checkpoint ("deemsharp", "torchsharp", "libtorch").</summary>
    [JsonPropertyName("versions")] public Dictionary<string, string> Versions { get; init; } = new(StringComparer.Ordinal);
    [JsonPropertyName("saved_at")] public DateTimeOffset SavedAt { get; init; }

    /// <summary>
    /// The state of a trainer after <paramref name="step"/> optimiser steps: the trainer's and torch's random
    /// states, the stream's position and skip counts, the versions of this build.
    /// </summary>
    /// <param name="step">Optimiser steps done.</param>
    /// <param name="stage">The stage config the run trains with.</param>
    /// <param name="modelConfig">The model config's name.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="generator">The trainer's generator (noise, timesteps, CFG swap, stochastic depth).</param>
    /// <param name="data">The run's batch stream.</param>
    public static TrainerState Capture(int step, StageConfig stage, string modelConfig, int seed, torch.Generator generator, IBatchStream data)
    {
        using var generatorState = generator.get_state();
        using var rngState = torch.get_rng_state();
        return new TrainerState
        {
            Step = step, Stage = stage, ModelConfig = modelConfig, Seed = seed,
            GeneratorState = Convert.ToBase64String(generatorState.bytes.ToArray()),
            TorchRngState = Convert.ToBase64String(rngState.bytes.ToArray()),
            Data = data.Position, SkipCounts = new Dictionary<string, int>(data.SkipTotals, StringComparer.Ordinal),
            Versions = CurrentVersions(), SavedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>Sets <paramref name="generator"/> (the trainer's) and torch's global generator to the recorded states.</summary>
    public void RestoreRandomStates(torch.Generator generator)
    {
        using (var g = torch.tensor(Convert.FromBase64String(GeneratorState))) generator.set_state(g);
        using (var r = torch.tensor(Convert.FromBase64String(TorchRngState))) torch.set_rng_state(r);
    }

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public static TrainerState Parse(string json, string source)
    {
        TrainerState? s;
        try { s = JsonSerializer.Deserialize<TrainerState>(json, Options); }
        catch (JsonException e) { throw new DeemFormatException(source, $"not a trainer state: {e.Message}", e.Path, e); }
        if (s is null) throw new DeemFormatException(source, "empty trainer state");
        if (s.Format != FormatName) throw new DeemFormatException(source, $"format is '{s.Format}', expected '{FormatName}'", "format");
        if (s.Version != CurrentVersion) throw new DeemFormatException(source, $"version {s.Version}, this build reads {CurrentVersion}", "version");
        s.Stage.Validate(source + ":stage_config");
        return s;
    }

    /// <summary>The versions of this build.</summary>
    public static Dictionary<string, string> CurrentVersions() => new(StringComparer.Ordinal)
    {
        ["deemsharp"] = typeof(TrainerState).Assembly.GetName().Version?.ToString() ?? "unknown",
        ["torchsharp"] = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown",
        ["libtorch"] = TorchSharp.torch.__version__,
    };
}
