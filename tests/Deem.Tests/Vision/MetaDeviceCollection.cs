namespace Deem.Tests.Vision;

/// <summary>
/// Tests that switch TorchSharp's default device to meta. The default device is process-wide, so
/// these run alone (after the parallel tests), never beside a test that allocates real tensors.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class VisionMetaDeviceCollection
{
    public const string Name = "Vision meta-device tests";
}
