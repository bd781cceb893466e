using Deem.Build;
using Deem.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests;

[Collection(GlobalTorchStateCollection.Name)]
public class TorchSharpLoadsTests
{
    [Fact]
    public void ManualSeedZeroRandnMatchesPyTorch()
    {
        // PyTorch: torch.manual_seed(0); torch.randn(3) -> tensor([ 1.5410, -0.2934, -2.1788])
        torch.manual_seed(0);
        var x = torch.randn(3).data<float>().ToArray();
        Assert.Equal(1.5410f, x[0], 1e-4f);
        Assert.Equal(-0.2934f, x[1], 1e-4f);
        Assert.Equal(-2.1788f, x[2], 1e-4f);
    }

    [Fact]
    public void SeedZeroGeneratorRandnMatchesPyTorch()
    {
        // PyTorch: torch.randn(3, generator=torch.Generator().manual_seed(0)) -> the same three numbers.
        var x = torch.randn([3], generator: new Generator(0)).data<float>().ToArray();
        Assert.Equal(1.5410f, x[0], 1e-4f);
        Assert.Equal(-0.2934f, x[1], 1e-4f);
        Assert.Equal(-2.1788f, x[2], 1e-4f);
    }

    [Fact]
    public void TestOutputLibraryHasWeakGlibcxxRequirement()
    {
        var lib = Doctor.FindLibTorchSharp();
        Assert.NotNull(lib);
        var req = ElfVersionNeeds.Read(lib!).Single(r => r.Version == ElfVersionNeeds.Glibcxx3432);
        Assert.Equal(ElfVersionNeeds.LibStdCxx, req.File);
        Assert.True(req.IsWeak);
    }
}
