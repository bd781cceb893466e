using Deem.World;
using Deem.Text;
using Deem.World.Pretraining;

namespace Deem.Tests.World.Pretraining;

/// <summary>A tiny world in a temp folder, its stage-0 data at 32 px, and one short <c>Stage0.Run</c> over it.</summary>
public sealed class Stage0Fixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "deem-stage0-" + Guid.NewGuid().ToString("N"));
    public string World => Path.Combine(Root, "world");
    public string Out => Path.Combine(Root, "out");
    public WordPieceTextTokenizer Tokenizer { get; } = WorldTokenizer.Create();
    public Stage0Data Data { get; }
    public Stage0Summary Summary { get; }

    public static Stage0Options Options => new()
    {
        ClipSteps = 2, LlmSteps = 2, VaeSteps = 2, UNetSteps = 2, BatchSize = 4, LlmBatchSize = 4, VaeBatchSize = 4, Seed = 5, Resolution = 32, LlmSequenceLength = 32,
    };

    public Stage0Fixture()
    {
        WorldWriter.Make(World, WorldOptions.Tiny);
        Data = Stage0Data.Load(World, Tokenizer, 32);
        Summary = Deem.World.Pretraining.Stage0.Run(World, Out, Options);
    }

    public void Dispose()
    {
        Data.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Stage-0 tests run alone: they seed torch's global generator and compare the losses of seeded runs.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Stage0Collection : ICollectionFixture<Stage0Fixture>
{
    public const string Name = "stage0 world";
}
