using Deem.Diagnostics.Fuzz;
using Deem.Serve;

namespace Deem.Tests.Serve;

/// <summary>Mutated chat and image-generation bodies: every rejection is an OpenAI error, never an untyped exception.</summary>
public class ChatRequestFuzzTests
{
    [Fact]
    public void MutatedRequestsGiveOnlyOpenAiErrors()
    {
        using var target = new ChatRequestFuzzTarget();
        var report = Fuzzer.Run(target, cases: 1000, seed: 3);
        Assert.True(report.Crashes == 0 && report.WrongResults == 0, string.Join("\n", report.Findings));
        Assert.True(report.TypedErrors > 0 && report.Ok > 0, $"ok {report.Ok}, typed {report.TypedErrors}: the mutations reach both outcomes");
    }

    [Fact]
    public void TheSeedsAreAccepted()
    {
        using var target = new ChatRequestFuzzTarget();
        foreach (var seed in target.Seeds) Assert.True(target.Check(seed));
    }
}
