using Deem.Config;
using Deem.IO;
using Deem.Text;
using TorchSharp;

namespace Deem.Model;

/// <summary>
/// A DEEM model folder, the unit `deem chat`, `deem ask`, `deem generate` and `deem eval` read and
/// every training stage writes:
/// <code>
///   deem_config.json      the DeemConfig (all component configs, loss weights)
///   model.safetensors     the state dict with the authors' key names (sharded with an index when large)
///   tokenizer.vocab       the world tokenizer's vocabulary (one token per line)
/// </code>
/// Writes are atomic per file; the weights are written last, so a folder with weights is complete.
/// </summary>
public static class DeemCheckpoint
{
    public const string ConfigFile = "deem_config.json";
    public const string WeightsFile = "model.safetensors";
    public const string TokenizerFile = "tokenizer.vocab";

    public static void Save(string folder, DeemModel model, WorldTokenizer tokenizer, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(folder);
        model.Config.Save(Path.Combine(folder, ConfigFile));
        tokenizer.Save(Path.Combine(folder, TokenizerFile));
        StateDicts.Save(model, Path.Combine(folder, WeightsFile), metadata);
    }

    /// <summary>True when the folder has a config and weights (a finished save).</summary>
    public static bool Exists(string folder) =>
        File.Exists(Path.Combine(folder, ConfigFile)) &&
        (File.Exists(Path.Combine(folder, WeightsFile)) || File.Exists(Path.Combine(folder, "model.safetensors.index.json")));

    /// <summary>Loads config, tokenizer and weights (strict: every key must match).</summary>
    public static (DeemModel Model, WorldTokenizer Tokenizer) Load(string folder, bool strict = true)
    {
        if (!Directory.Exists(folder))
            throw new DeemFormatException(folder, "model folder not found");
        if (!Exists(folder))
            throw new DeemFormatException(folder, $"not a DEEM model folder: needs {ConfigFile} and {WeightsFile}");
        var config = DeemConfig.Load(Path.Combine(folder, ConfigFile));
        var tokenizerPath = Path.Combine(folder, TokenizerFile);
        if (!File.Exists(tokenizerPath)) throw new DeemFormatException(tokenizerPath, "tokenizer vocabulary not found");
        var tokenizer = WorldTokenizer.Load(tokenizerPath);
        var model = new DeemModel(config);
        var weights = File.Exists(Path.Combine(folder, WeightsFile)) ? Path.Combine(folder, WeightsFile) : folder;
        if (strict) StateDicts.LoadStrict(model, weights);
        else StateDicts.LoadNonStrict(model, weights);
        return (model, tokenizer);
    }
}
