using System.Text.Json.Serialization;

namespace Deem.World;

/// <summary>How the instruction (SFT) items ask the benchmarks' yes/no questions (docs/experiments.md §2.1, §2.8).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<YesNoMix>))]
public enum YesNoMix
{
    /// <summary>Generator v1: the POPE-style and main-object kinds drawn at random among the open ones.</summary>
    [JsonStringEnumMemberName("mixed")] Mixed,
    /// <summary>Generator v2: a POPE-style pair (one present, one absent shape) and, when the scene has one large
    /// object, a main-object pair, shuffled among the open questions (<see cref="VqaGenerator.YesNoPairs"/>).</summary>
    [JsonStringEnumMemberName("pairs")] Pairs,
    /// <summary>POPE-style questions about two shapes and a main-object question, every answer its own coin, asked
    /// before the open questions (<see cref="VqaGenerator.YesNoQuestions"/>).</summary>
    [JsonStringEnumMemberName("first")] First,
}

/// <summary>How many items each part of the world holds. The defaults write in a few seconds at 64 px.</summary>
public sealed record WorldCounts
{
    /// <summary>MMC4-style interleaved documents (2–4 images each).</summary>
    [JsonPropertyName("mmc4_docs")] public int Mmc4Docs { get; init; } = 48;
    /// <summary>BLIP-LAION-style image–caption pairs in webdataset shards.</summary>
    [JsonPropertyName("caption_pairs")] public int CaptionPairs { get; init; } = 256;
    /// <summary>LLaVA-style instruction items (3 questions each).</summary>
    [JsonPropertyName("vqa_images")] public int VqaImages { get; init; } = 128;
    /// <summary>COCO-style images with per-object masks and region descriptions.</summary>
    [JsonPropertyName("region_images")] public int RegionImages { get; init; } = 64;
    /// <summary>Images in each of the A, R and V test splits (classes cycle, so a multiple of 13 is balanced).</summary>
    [JsonPropertyName("test_images_per_split")] public int TestImagesPerSplit { get; init; } = 52;

    /// <summary>Every count times <paramref name="scale"/>, rounded half away from zero.</summary>
    public WorldCounts Scaled(double scale)
    {
        int S(int n) => (int)Math.Round(n * scale, MidpointRounding.AwayFromZero);
        return new WorldCounts
        {
            Mmc4Docs = S(Mmc4Docs), CaptionPairs = S(CaptionPairs), VqaImages = S(VqaImages),
            RegionImages = S(RegionImages), TestImagesPerSplit = S(TestImagesPerSplit),
        };
    }
}

/// <summary>
/// Options of the procedural world (<see cref="WorldWriter.Make"/>): the seed, the image size and
/// the counts. Everything written is a function of these alone.
/// </summary>
public sealed record WorldOptions
{
    [JsonPropertyName("seed")] public int Seed { get; init; } = 0;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 64;
    [JsonPropertyName("counts")] public WorldCounts Counts { get; init; } = new();
    /// <summary>Samples per webdataset tar shard.</summary>
    [JsonPropertyName("shard_size")] public int ShardSize { get; init; } = 100;
    /// <summary>Questions per LLaVA item.</summary>
    [JsonPropertyName("questions_per_image")] public int QuestionsPerImage { get; init; } = 3;
    /// <summary>Attribute families the caption pairs' short captions never name ("orientation", "count"): the stage-0
    /// CLIP's only text, so it is never told about them, while SFT and the benchmarks ask (<see cref="CaptionFamilies"/>).</summary>
    [JsonPropertyName("caption_omits")] public IReadOnlyList<string> CaptionOmits { get; init; } = ["orientation", "count"];
    /// <summary>How the LLaVA items ask the benchmarks' yes/no questions (<see cref="YesNoMix"/>; <see cref="VqaGenerator.ForItem"/>).</summary>
    [JsonPropertyName("yes_no")] public YesNoMix YesNo { get; init; } = YesNoMix.Pairs;
    /// <summary>Held-out in-distribution images of the main-object (RobustVQA-style) split, beside A/R/V.</summary>
    [JsonPropertyName("test_images_in_distribution")] public int TestImagesInDistribution { get; init; } = 52;

    /// <summary>The parsed <see cref="CaptionOmits"/>.</summary>
    public IReadOnlyList<AttributeFamily> OmittedFamilies() =>
        (CaptionOmits ?? []).Select(n => CaptionFamilies.Parse(n, "WorldOptions")).Distinct().ToList();

    /// <summary>A small world for tests (a few dozen images).</summary>
    public static WorldOptions Tiny => new()
    {
        ImageSize = 48,
        ShardSize = 8,
        Counts = new WorldCounts { Mmc4Docs = 4, CaptionPairs = 12, VqaImages = 6, RegionImages = 4, TestImagesPerSplit = 13 },
        TestImagesInDistribution = 13,
    };

    public void Validate(string source)
    {
        if (ImageSize < 16 || ImageSize > 4096) throw new DeemConfigException(source, "image_size", $"must be in [16, 4096], found {ImageSize}");
        if (ShardSize <= 0) throw new DeemConfigException(source, "shard_size", $"must be positive, found {ShardSize}");
        if (QuestionsPerImage <= 0) throw new DeemConfigException(source, "questions_per_image", $"must be positive, found {QuestionsPerImage}");
        foreach (var n in CaptionOmits ?? []) CaptionFamilies.Parse(n, source);
        if (TestImagesInDistribution < 0)
            throw new DeemConfigException(source, "test_images_in_distribution", $"must not be negative, found {TestImagesInDistribution}");
        var c = Counts;
        foreach (var (name, v) in new[] { ("mmc4_docs", c.Mmc4Docs), ("caption_pairs", c.CaptionPairs), ("vqa_images", c.VqaImages),
                     ("region_images", c.RegionImages), ("test_images_per_split", c.TestImagesPerSplit) })
            if (v < 0) throw new DeemConfigException(source, $"counts.{name}", $"must not be negative, found {v}");
    }
}
