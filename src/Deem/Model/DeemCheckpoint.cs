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

    /// <summary>Throws <see cref="DeemFormatException"/> naming <paramref name="folder"/> unless it is a complete model folder.</summary>
    public static void Require(string folder)
    {
        if (!Directory.Exists(folder))
            throw new DeemFormatException(folder, "model folder not found");
        if (!Exists(folder))
            throw new DeemFormatException(folder, $"not a DEEM model folder: needs {ConfigFile} and {WeightsFile}");
    }

    /// <summary>The weights of a model folder: <c>model.safetensors</c>, or the folder itself when it holds an index of shards.</summary>
    public static string WeightsPath(string folder) =>
        File.Exists(Path.Combine(folder, WeightsFile)) ? Path.Combine(folder, WeightsFile) : folder;

    /// <summary>Loads config, tokenizer and weights (strict: every key must match).</summary>
    public static (DeemModel Model, ITextTokenizer Tokenizer) Load(string folder, bool strict = true)
    {
        var loaded = Open(folder, new ModelFolderLoad { Strict = strict });
        return (loaded.Model, loaded.Tokenizer);
    }

    /// <summary>
    /// The reader of model folders for training (<see cref="Load"/>, a stage's <c>--init</c>, a resumed checkpoint):
    /// the folder's config (adapted by <see cref="ModelFolderLoad.Config"/>), its tokenizer (or the given
    /// one when it holds none) and its weights, strict or not, into an fp32 model built at full size; the report
    /// lists what matched. Inference on a device or in a low dtype reads the same folder through
    /// <see cref="ModelLoader"/> (meta build, memory-mapped weights, strict).
    /// </summary>
    public static LoadedModel Open(string folder, ModelFolderLoad how)
    {
        Require(folder);
        var config = DeemConfig.Load(Path.Combine(folder, ConfigFile));
        if (how.Config is { } adapt) config = adapt(config);
        var tokenizer = TokenizerFiles.Exists(folder) || how.Tokenizer is null ? TokenizerFiles.Load(folder) : how.Tokenizer;
        var model = new DeemModel(config, how.Generator);
        try
        {
            var weights = WeightsPath(folder);
            var report = how.Strict ? StateDicts.LoadStrict(model, weights) : StateDicts.LoadNonStrict(model, weights);
            return new LoadedModel(model, tokenizer, report);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}

/// <summary>How <see cref="DeemCheckpoint.Open"/> reads a model folder.</summary>
public sealed record ModelFolderLoad
{
    /// <summary>Every key must match (the default); false loads the keys that match and reports the rest (a previous stage's folder).</summary>
    public bool Strict { get; init; } = true;
    /// <summary>Adapts the folder's config before the model is built (a stage's extractor, another architecture); null keeps it.</summary>
    public Func<DeemConfig, DeemConfig>? Config { get; init; }
    /// <summary>The tokenizer when the folder holds none; null: the folder must hold one.</summary>
    public ITextTokenizer? Tokenizer { get; init; }
    /// <summary>Generator of the fresh weights a non-strict load leaves (kept by modules such as DropPath); null: the model's default.</summary>
    public torch.Generator? Generator { get; init; }
}

/// <summary>A model read from a folder: the model, its tokenizer and what its weights matched.</summary>
/// <param name="Model">The model, weights loaded.</param>
/// <param name="Tokenizer">The folder's tokenizer (or the one given when it holds none).</param>
/// <param name="Report">Keys loaded, missing (left fresh), unexpected (dropped) and converted.</param>
public sealed record LoadedModel(DeemModel Model, ITextTokenizer Tokenizer, LoadReport Report);
