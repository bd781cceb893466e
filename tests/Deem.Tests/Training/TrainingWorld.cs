using Deem.Config;
using Deem.Data.Pipeline;
using Deem.World;
using Deem.Model;
using Deem.Tests.Data;
using Deem.Text;
using Deem.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>A tiny world written once for the training tests, small stage configs and a trainer factory.</summary>
public sealed class TrainingWorld : IDisposable
{
    readonly TempDir _dir = new();

    public TrainingWorld()
    {
        WorldWriter.Make(_dir.Path, WorldOptions.Tiny with
        {
            ImageSize = 32,
            Counts = new WorldCounts { Mmc4Docs = 6, CaptionPairs = 10, VqaImages = 4, RegionImages = 3, TestImagesPerSplit = 0 },
        });
        Paths = DataPaths.FromWorld(_dir.Path);
    }

    public string Root => _dir.Path;
    public DataPaths Paths { get; }

    /// <summary>The tiny stage config shrunk to short sequences and few steps.</summary>
    public static StageConfig Stage(int stage, int steps, bool noCsr = false) =>
        TrainingSetup.WithSteps(TrainingSetup.StageConfigFor("tiny", stage, noCsr), steps) with
        {
            MaxLength = 64, MaxImagesPerSequence = 2, BatchSize = 1, SaveEvery = 0, LogEvery = 1,
        };

    /// <summary>A tiny model with weights from <paramref name="seed"/> (some layers initialise from torch's global generator).</summary>
    public static DeemModel Model(StageConfig stage, int seed)
    {
        manual_seed(seed);
        return new DeemModel(TrainingSetup.ModelConfigFor(WorldPresets.Tiny, stage), new Generator((ulong)seed));
    }

    /// <summary>Detached copies of every parameter, by name (to compare two runs' weights).</summary>
    public static Dictionary<string, Tensor> Snapshot(DeemModel model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

    public IBatchStream Stream(StageConfig stage, DataPosition? resume = null) =>
        TrainingSetup.OpenStream(stage, Paths, WorldTokenizer.Default, WorldPresets.Tiny.ImageTokens, strict: true, resume);

    public void Dispose() => _dir.Dispose();
}

/// <summary>Training tests share the world and run one at a time (they reseed torch's global generator).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TrainingCollection : ICollectionFixture<TrainingWorld>
{
    public const string Name = "training world";
}
