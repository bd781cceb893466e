using Deem.Diagnostics;
using TorchSharp;
using Xunit;

namespace Deem.Tests.Diagnostics;

public class NnpackSettingsTests
{
    [Fact]
    public void TurnsLibtorchsSwitchOffAndAConvolutionStillRuns()
    {
        var result = NnpackSettings.TurnOff();
        Assert.Equal(result, NnpackSettings.InForce);
        if (!OperatingSystem.IsLinux()) { Assert.Null(NnpackSettings.Enabled()); return; }
        if (Environment.GetEnvironmentVariable(NnpackSettings.Variable) == "1") { Assert.StartsWith("libtorch's default", result); return; }
        // libtorch's own getter reads the switch back: a missing export or a call that did not land shows here.
        Assert.Equal("off", result);
        Assert.False(NnpackSettings.Enabled());
        // A convolution of the size libtorch would hand to NNPACK (batch ≥ 16, fp32, 3 × 3) runs on the other kernels.
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(7);
        var x = torch.randn(new long[] { 16, 4, 12, 12 }, generator: gen);
        var w = torch.randn(new long[] { 8, 4, 3, 3 }, generator: gen);
        var y = torch.nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });                         // [16, 8, 12, 12]
        var one = torch.nn.functional.conv2d(x[..1], w, padding: new long[] { 1, 1 });                  // [1, 8, 12, 12]
        Assert.Equal(new long[] { 16, 8, 12, 12 }, y.shape);
        Assert.True(torch.allclose(y[..1], one, rtol: 1e-4, atol: 1e-4));
    }
}
