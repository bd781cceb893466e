using System.Text.Json;
using System.Text.Json.Nodes;

namespace Deem.Text;

/// <summary>
/// A tokenizer in a folder: the tokenizer's own file (<c>tokenizer.vocab</c> of the world, or the LLaMA
/// SentencePiece <c>tokenizer.model</c>) and <c>tokenizer_config.json</c> recording its kind and file:
/// <code>{ "kind": "llama", "file": "tokenizer.model" }</code>
/// Folders without the record (older DEEM folders, a Hugging Face Vicuna folder whose
/// <c>tokenizer_config.json</c> has no "kind") are read by the file they hold: <c>tokenizer.model</c>,
/// else <c>tokenizer.json</c>, else <c>tokenizer.vocab</c>.
/// </summary>
public static class TokenizerFiles
{
    public const string ConfigFile = "tokenizer_config.json";
    public const string HfJsonFile = "tokenizer.json";

    /// <summary>Writes the tokenizer file, then the record of its kind.</summary>
    public static void Save(string folder, ITextTokenizer tokenizer)
    {
        Directory.CreateDirectory(folder);
        tokenizer.Save(Path.Combine(folder, tokenizer.FileName));
        var record = new JsonObject { ["kind"] = tokenizer.Kind, ["file"] = tokenizer.FileName };
        Deem.IO.AtomicFile.WriteAllText(Path.Combine(folder, ConfigFile), record.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>True when <paramref name="folder"/> holds a tokenizer <see cref="Load"/> reads.</summary>
    public static bool Exists(string folder) =>
        new[] { ConfigFile, LlamaTextTokenizer.ModelFile, HfJsonFile, WordPieceTextTokenizer.VocabFile }.Any(f => File.Exists(Path.Combine(folder, f)));

    /// <summary>The tokenizer of a model folder or of a Hugging Face LLaMA / Vicuna folder.</summary>
    public static ITextTokenizer Load(string folder)
    {
        var configPath = Path.Combine(folder, ConfigFile);
        if (File.Exists(configPath) && ReadKind(configPath) is { } record)
        {
            var path = Path.Combine(folder, record.File);
            return record.Kind switch
            {
                // "world": folders written before the word-piece tokenizer had a name of its own.
                WordPieceTextTokenizer.KindName or "world" => WordPieceTextTokenizer.Load(path),
                "llama" => LoadFile(path),
                _ => throw new DeemConfigException(configPath, "kind", $"expected \"{WordPieceTextTokenizer.KindName}\" or \"llama\", found \"{record.Kind}\""),
            };
        }
        foreach (var name in new[] { LlamaTextTokenizer.ModelFile, HfJsonFile, WordPieceTextTokenizer.VocabFile })
        {
            var path = Path.Combine(folder, name);
            if (File.Exists(path)) return LoadFile(path);
        }
        throw new DeemFormatException(folder,
            $"no tokenizer: needs {ConfigFile} with a kind, or {LlamaTextTokenizer.ModelFile}, {HfJsonFile} or {WordPieceTextTokenizer.VocabFile}");
    }

    /// <summary>A tokenizer file by its kind of file: <c>.model</c> SentencePiece, <c>.json</c> Hugging Face, <c>.vocab</c> word-piece;
    /// a folder is read by <see cref="Load"/>.</summary>
    public static ITextTokenizer LoadFile(string path)
    {
        if (Directory.Exists(path)) return Load(path);
        if (!File.Exists(path)) throw new DeemFormatException(path, "tokenizer file not found");
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".model" => LlamaTextTokenizer.FromModelFile(path),
            ".json" => LlamaTextTokenizer.FromHfJson(path),
            ".vocab" => WordPieceTextTokenizer.Load(path),
            var ext => throw new DeemFormatException(path, $"unknown tokenizer file kind '{ext}': expected .model, .json or .vocab"),
        };
    }

    static (string Kind, string File)? ReadKind(string configPath)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(configPath)); }
        catch (JsonException e) { throw new DeemFormatException(configPath, $"not JSON: {e.Message}", inner: e); }
        if (root?["kind"] is not JsonValue kind) return null;     // a Hugging Face tokenizer_config.json
        string k = (string)kind!;
        string file = (string?)root["file"] ?? (k is WordPieceTextTokenizer.KindName or "world" ? WordPieceTextTokenizer.VocabFile : LlamaTextTokenizer.ModelFile);
        if (file.Contains('/') || file.Contains('\\') || file.Contains(".."))
            throw new DeemConfigException(configPath, "file", $"must be a file name in the folder, found \"{file}\"");
        return (k, file);
    }
}
