using System.Text.Json;
using System.Text.Json.Nodes;
using Deem.World;

namespace Deem.World.Benchmarks;

/// <summary>
/// What the world benchmarks need to know about a world written by <see cref="WorldWriter.Make"/>:
/// its options (from <c>manifest.json</c>) and the content keys of its training-side scenes, so held-out
/// benchmark scenes never repeat a training scene (the same rule the world's own test splits follow,
/// <see cref="WorldPlan"/>).
/// </summary>
public static class WorldSource
{
    /// <summary>The options a world was written with, read from its <c>manifest.json</c>.</summary>
    public static WorldOptions ReadOptions(string worldRoot)
    {
        string path = Path.Combine(worldRoot, "manifest.json");
        if (!File.Exists(path)) throw new DeemFormatException(path, "world manifest not found; is this a world folder?");
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new DeemFormatException(path, "not a JSON object.");
            if (root["generator"]?.GetValue<string>() != WorldWriter.Generator)
                throw new DeemFormatException(path, $"not written by {WorldWriter.Generator}.", "generator");
            var options = root["options"]?.Deserialize<WorldOptions>() ?? throw new DeemFormatException(path, "missing 'options'.", "options");
            options.Validate(path);
            return options;
        }
        catch (JsonException e)
        {
            throw new DeemFormatException(path, $"not valid JSON: {e.Message}", inner: e);
        }
    }

    /// <summary>Content keys (<see cref="Scene.ContentKey"/>) of every training-side scene of the world
    /// written with <paramref name="options"/> (the plan is rebuilt; no pixel is drawn).</summary>
    public static HashSet<string> TrainKeys(WorldOptions options) =>
        new(WorldPlan.Build(options).TrainKeys, StringComparer.Ordinal);
}
