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
///   tokenizer_config.json the tokenizer's kind ("wordpiece" or "llama") and file
///   tokenizer.vocab       the world tokenizer's vocabulary (one token per line), or
///   tokenizer.model       the LLaMA / Vicuna SentencePiece model
/// </code>
/// Writes are atomic per file; the weights are written last, so a folder with weights is complete.
/// </summary>
public static class DeemCheckpoint
{
    public const string ConfigFile = "deem_config.json";
    public const string WeightsFile = "model.safetensors";
    /// <summary>The world tokenizer's file (a LLaMA tokenizer writes <c>tokenizer.model</c>; see <see cref="TokenizerFiles"/>).</summary>
    public const string TokenizerFile = WordPieceTextTokenizer.VocabFile;

    public static void Save(string folder, DeemModel model, ITextTokenizer tokenizer, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(folder);
        model.Config.Save(Path.Combine(folder, ConfigFile));
        TokenizerFiles.Save(folder, tokenizer);
        StateDicts.Save(model, Path.Combine(folder, WeightsFile), metadata);
    }

    /// <summary>True when the folder has a config and weights (a finished save).</summary>
    public static bool Exists(string folder) =>
        File.Exists(Path.Combine(folder, ConfigFile)) &&
        (File.Exists(Path.Combine(folder, WeightsFile)) || File.Exists(Path.Combine(folder, "model.safetensors.index.json")));

    /// <summary>Loads config, tokenizer and weights (strict: every key must match).</summary>
    public static (DeemModel Model, ITextTokenizer Tokenizer) Load(string folder, bool strict = true)
    {
        if (!Directory.Exists(folder))
            throw new DeemFormatException(folder, "model folder not found");
        if (!Exists(folder))
            throw new DeemFormatException(folder, $"not a DEEM model folder: needs {ConfigFile} and {WeightsFile}");
        var config = DeemConfig.Load(Path.Combine(folder, ConfigFile));
        var tokenizer = TokenizerFiles.Load(folder);
        var model = new DeemModel(config);
        var weights = File.Exists(Path.Combine(folder, WeightsFile)) ? Path.Combine(folder, WeightsFile) : folder;
        if (strict) StateDicts.LoadStrict(model, weights);
        else StateDicts.LoadNonStrict(model, weights);
        return (model, tokenizer);
    }
}
