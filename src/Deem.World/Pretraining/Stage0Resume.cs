using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deem.Config;
using Deem.IO;
using Deem.Model;

namespace Deem.World.Pretraining;

/// <summary>
/// What a resumed stage 0 (<c>deem train --stage 0 --resume</c>) keeps of an output folder: the longest run
/// of CLIP → LLM → VAE → UNet whose weights are there (each component's weights are its last file, written
/// atomically, so weights mean a complete component), each checked against this run's settings — the steps
/// its <c>stage0_metrics.jsonl</c> records, the resolution its config records, and the other settings in
/// <c>stage0_options.json</c> — with its losses read back from the metrics. The components after it are
/// trained anew, from the same seeds, so a resumed run gives the weights an uninterrupted run gives.
/// </summary>
public sealed class Stage0Resume
{
    public const string OptionsFile = "stage0_options.json";

    /// <summary>The stage-0 components in training order.</summary>
    public static readonly IReadOnlyList<string> Order = [ClipTrainer.Name, LlmTrainer.Name, VaeTrainer.Name, UNetTrainer.Name];

    private readonly Dictionary<string, ComponentResult> kept;

    private Stage0Resume(Dictionary<string, ComponentResult> kept, IReadOnlyList<string> keptLines)
    {
        this.kept = kept;
        KeptLines = keptLines;
    }

    /// <summary>Nothing kept: a fresh run.</summary>
    public static Stage0Resume Fresh { get; } = new([], []);

    /// <summary>Whether <paramref name="component"/> is loaded from the folder instead of trained.</summary>
    public bool Keeps(string component) => kept.ContainsKey(component);

    /// <summary>The kept components, in training order.</summary>
    public IReadOnlyList<string> Kept => Order.Where(kept.ContainsKey).ToList();

    /// <summary>The recorded training of a kept component.</summary>
    public ComponentResult Result(string component) => kept[component];

    /// <summary>The kept components' lines of <c>stage0_metrics.jsonl</c>, in their order there (the resumed log starts with them).</summary>
    public IReadOnlyList<string> KeptLines { get; }

    /// <summary>The weights file whose presence marks <paramref name="component"/> complete under <paramref name="outDir"/>.</summary>
    public static string WeightsOf(string outDir, string component)
    {
        var folders = ComponentFolders.Under(outDir);
        return component switch
        {
            ClipTrainer.Name => folders.OpenClipWeights,
            LlmTrainer.Name => Path.Combine(folders.LlmFolder, "model.safetensors"),
            VaeTrainer.Name => Path.Combine(folders.SdFolder, "vae", ComponentFolders.DiffusersWeightsFile),
            UNetTrainer.Name => Path.Combine(folders.SdFolder, "unet", ComponentFolders.DiffusersWeightsFile),
            _ => throw new ArgumentOutOfRangeException(nameof(component), component, "not a stage-0 component"),
        };
    }

    /// <summary>The settings a run records before it trains (<see cref="OptionsFile"/>), for a later <c>--resume</c> to check.</summary>
    public static void WriteOptions(string outDir, Stage0Options options) =>
        AtomicFile.WriteAllText(Path.Combine(outDir, OptionsFile), JsonSerializer.Serialize(options, new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>
    /// Reads what <paramref name="outDir"/> holds for a resumed run with <paramref name="options"/>. Throws
    /// <see cref="DeemConfigException"/> naming the file and field when a component there was trained otherwise.
    /// </summary>
    public static Stage0Resume Read(string outDir, Stage0Options options)
    {
        CheckOptions(outDir, options);
        var metricsPath = Path.Combine(outDir, Stage0.MetricsFile);
        var lines = File.Exists(metricsPath) ? File.ReadAllLines(metricsPath) : [];
        var steps = lines.Select(ParseLine).ToList();                                     // null: a torn or foreign line

        var kept = new Dictionary<string, ComponentResult>();
        foreach (var component in Order)
        {
            if (!File.Exists(WeightsOf(outDir, component))) break;
            CheckResolution(outDir, component, options.Resolution);
            int wanted = StepsOf(options, component);
            var mine = steps.Where(s => s?.Component == component).Select(s => s!).ToList();
            bool whole = mine.Count == wanted && mine.Select((s, i) => s.Step == i + 1).All(x => x);
            if (!whole)
                throw new DeemConfigException(metricsPath, component,
                    $"--resume: the {component} in {outDir} was trained for {mine.Count} logged steps, this run asks for {wanted}");
            kept[component] = new ComponentResult(component, wanted, mine[0].Loss, mine[^1].Loss, mine[^1].Seconds, mine.Select(s => s.Loss).ToList());
        }
        var keptLines = lines.Where((_, i) => steps[i] is { } s && kept.ContainsKey(s.Component)).ToList();
        return new Stage0Resume(kept, keptLines);
    }

    static int StepsOf(Stage0Options o, string component) => component switch
    {
        ClipTrainer.Name => o.ClipSteps,
        LlmTrainer.Name => o.LlmSteps,
        VaeTrainer.Name => o.VaeSteps,
        _ => o.UNetSteps,
    };

    /// <summary>Every recorded setting but the steps (checked per kept component) must equal this run's.</summary>
    static void CheckOptions(string outDir, Stage0Options options)
    {
        var path = Path.Combine(outDir, OptionsFile);
        if (!File.Exists(path)) return;                                                   // a folder from before the file existed
        var saved = ConfigJson.Load<JsonObject>(path);
        var now = (JsonObject)JsonSerializer.SerializeToNode(options)!;
        foreach (var (name, value) in now)
        {
            if (name.EndsWith("Steps", StringComparison.Ordinal)) continue;
            if (!saved.TryGetPropertyValue(name, out var old) || !JsonNode.DeepEquals(old, value))
                throw new DeemConfigException(path, name, $"--resume: the folder was trained with {old?.ToJsonString() ?? "no value"}, this run asks for {value?.ToJsonString()}");
        }
    }

    /// <summary>The CLIP's and the VAE's configs record the side they were trained at.</summary>
    static void CheckResolution(string outDir, string component, int resolution)
    {
        var folders = ComponentFolders.Under(outDir);
        if (component == ClipTrainer.Name)
        {
            var path = Path.Combine(Path.GetDirectoryName(folders.OpenClipWeights)!, ComponentWriters.OpenClipConfig);
            Same(path, "image_size", ConfigJson.Load<OpenClipConfigFile>(path).ModelCfg?.VisionCfg?.ImageSize);
        }
        else if (component == VaeTrainer.Name)
        {
            var path = Path.Combine(folders.SdFolder, "vae", "config.json");
            Same(path, "sample_size", ConfigJson.Load<VaeConfig>(path).SampleSize);
        }

        void Same(string path, string field, int? side)
        {
            if (side != resolution)
                throw new DeemConfigException(path, field, $"--resume: the {component} was trained at {(side is > 0 ? side.Value.ToString(CultureInfo.InvariantCulture) : "no recorded")} px, this run asks for {resolution} (--resolution)");
        }
    }

    /// <summary><c>open_clip_config.json</c> as <see cref="ComponentWriters.WriteClip"/> writes it; only the model config is read.</summary>
    sealed record OpenClipConfigFile
    {
        [System.Text.Json.Serialization.JsonPropertyName("model_cfg")] public OpenClipModelConfig? ModelCfg { get; init; }
    }

    sealed record LoggedStep(string Component, int Step, double Loss, double Seconds);

    static LoggedStep? ParseLine(string line)
    {
        try
        {
            return JsonNode.Parse(line) is JsonObject o
                && o["component"] is JsonValue c && c.TryGetValue(out string? name)
                && o["step"] is JsonValue st && st.TryGetValue(out int step)
                && o["loss"] is JsonValue l && l.TryGetValue(out double loss)
                && o["seconds"] is JsonValue se && se.TryGetValue(out double seconds)
                ? new LoggedStep(name, step, loss, seconds) : null;
        }
        catch (JsonException)
        {
            return null;                                                                  // a line torn by a kill
        }
    }
}
