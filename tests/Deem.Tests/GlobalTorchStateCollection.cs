namespace Deem.Tests;

/// <summary>
/// Tests that touch process-wide torch state run alone, after every parallel test class: those that seed
/// torch's global generator (<c>manual_seed</c>) and compare numbers drawn from it (modules built with
/// their default init draw from it), and those that switch the default device to meta. xunit runs a
/// collection with parallelisation disabled on its own, so no other test draws from the generator or
/// allocates tensors in between. Tests that only need random inputs use their own <c>Generator</c> instead.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalTorchStateCollection
{
    public const string Name = "global torch state";
}
