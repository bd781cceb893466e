using System.Reflection;
using Deem.Model;
using Deem.World;

namespace Deem.Tests.Build;

/// <summary>
/// The core library (model, training, inference, benchmarks' scorers) never depends on the built-in
/// world: the world is an assembly of its own that references the core, never the reverse.
/// </summary>
public class CoreIndependenceTests
{
    static readonly Assembly Core = typeof(DeemModel).Assembly;

    [Fact]
    public void CoreAssemblyDoesNotReferenceTheWorld()
    {
        var world = typeof(WorldPresets).Assembly.GetName().Name;
        Assert.NotEqual(world, Core.GetName().Name);
        Assert.DoesNotContain(Core.GetReferencedAssemblies(), a => a.Name == world);
    }

    [Fact]
    public void NoCoreTypeLivesInTheWorldNamespace()
    {
        var misplaced = Core.GetTypes().Where(t => t.Namespace?.StartsWith("Deem.World", StringComparison.Ordinal) == true).ToList();
        Assert.Empty(misplaced);
    }

    [Fact]
    public void WorldAssemblyReferencesTheCore()
    {
        var world = typeof(WorldPresets).Assembly;
        Assert.Contains(world.GetReferencedAssemblies(), a => a.Name == Core.GetName().Name);
        Assert.All(world.GetTypes().Where(t => t.IsPublic), t => Assert.StartsWith("Deem.World", t.Namespace));
    }
}
