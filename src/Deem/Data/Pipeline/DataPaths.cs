namespace Deem.Data.Pipeline;

/// <summary>
/// Where the training data of each stage lives, in the real layouts (reference §5): MMC4 jsonl/zip
/// shards (a file or a folder of them) with the flat image folder, the BLIP-LAION webdataset folder,
/// the LLaVA instruction json with its image root, and COCO instances with their image folder.
/// <see cref="FromWorld"/> gives a data root in the standard layout (the one the built-in world is written in).
/// </summary>
public sealed record DataPaths
{
    public string? Mmc4Annotations { get; init; }
    public string? Mmc4Images { get; init; }
    public string? LaionShards { get; init; }
    public string? LlavaJson { get; init; }
    public string? LlavaImages { get; init; }
    /// <summary>Webdataset shards whose captions become caption-as-QA items in stage 2 (optional).</summary>
    public string? CaptionQaShards { get; init; }
    public string? CocoAnnotations { get; init; }
    public string? CocoImages { get; init; }

    /// <summary>The procedural world's layout under <paramref name="root"/>.</summary>
    public static DataPaths FromWorld(string root) => new()
    {
        Mmc4Annotations = Path.Combine(root, "mmc4"),
        Mmc4Images = Path.Combine(root, "mmc4", "images"),
        LaionShards = Path.Combine(root, "laion"),
        LlavaJson = Path.Combine(root, "llava", "world_instruct.json"),
        LlavaImages = Path.Combine(root, "llava"),
        CaptionQaShards = Path.Combine(root, "laion"),
        CocoAnnotations = Path.Combine(root, "coco", "annotations", "instances_region.json"),
        CocoImages = Path.Combine(root, "coco", "region"),
    };

    /// <summary>The MMC4 shards: the file itself, or every .jsonl / .zip of the folder in name order.</summary>
    public static IReadOnlyList<string> Mmc4Shards(string fileOrFolder)
    {
        if (File.Exists(fileOrFolder)) return [fileOrFolder];
        if (!Directory.Exists(fileOrFolder)) throw new DeemFormatException(fileOrFolder, "MMC4 annotations not found");
        var files = Directory.GetFiles(fileOrFolder).Where(f => f.EndsWith(".jsonl", StringComparison.Ordinal) || f.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        return files.Count > 0 ? files : throw new DeemFormatException(fileOrFolder, "no .jsonl or .zip MMC4 shard in the folder");
    }

    /// <summary>Every <c>*.tar</c> of a webdataset folder in name order.</summary>
    public static IReadOnlyList<string> TarShards(string folder)
    {
        if (!Directory.Exists(folder)) throw new DeemFormatException(folder, "webdataset folder not found");
        var files = Directory.GetFiles(folder, "*.tar").OrderBy(f => f, StringComparer.Ordinal).ToList();
        return files.Count > 0 ? files : throw new DeemFormatException(folder, "no .tar shard in the folder");
    }

    internal static string Require(string? path, string what) =>
        path ?? throw new DeemConfigException("data paths", what, "is needed by this stage but not given");
}
