using Deem.Config;
using Deem.Data.Pipeline;
using Deem.World;
using Deem.Tests.Data;
using Deem.Text;

namespace Deem.Tests.Data.Pipeline;

/// <summary>A tiny world written once for all pipeline tests, the tokenizer, and small stage configs.</summary>
public sealed class PipelineWorld : IDisposable
{
    readonly TempDir _dir = new();

    public PipelineWorld()
    {
        WorldWriter.Make(_dir.Path, WorldOptions.Tiny with
        {
            ImageSize = 32,
            Counts = new WorldCounts { Mmc4Docs = 6, CaptionPairs = 10, VqaImages = 3, RegionImages = 3, TestImagesPerSplit = 0 },
        });
        Paths = DataPaths.FromWorld(_dir.Path);
    }

    public string Root => _dir.Path;
    public DataPaths Paths { get; }
    public static readonly WordPieceTextTokenizer Tok = WorldTokenizer.Create();
    public const int ImageTokens = 4;

    public static StageConfig Stage(int stage, int seed = 5) => StageConfig.Load("tiny", $"stage{stage}") with
    {
        EncoderResolution = 16, DecoderResolution = 24, MaxLength = 96, MaxImagesPerSequence = 3, BatchSize = 2, Seed = seed,
        RandomFlip = stage == 1,
    };

    public void Dispose() => _dir.Dispose();
}

[CollectionDefinition("pipeline world")]
public sealed class PipelineWorldCollection : ICollectionFixture<PipelineWorld>;
