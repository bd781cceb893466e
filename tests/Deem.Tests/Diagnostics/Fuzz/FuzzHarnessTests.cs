using Deem.Diagnostics.Fuzz;

namespace Deem.Tests.Diagnostics.Fuzz;

/// <summary>
/// The seeded fuzz harness over the IO readers: a few thousand mutated files, only typed errors allowed.
/// The cases are fixed by the seed, so a failure here is a reproducible finding (deem fuzz --target T --seed 7).
/// </summary>
public class FuzzHarnessTests
{
    // The targets held to zero crashes and wrong results (every target).
    public static TheoryData<string> Guarded => new(FuzzTargets.Guarded);

    [Theory]
    [MemberData(nameof(Guarded))]
    public void GuardedTargetsGiveOnlyTypedErrors(string name)
    {
        using var target = FuzzTargets.Create(name);
        var report = Fuzzer.Run(target, cases: 500, seed: 7);
        Assert.True(report.Crashes == 0 && report.WrongResults == 0, string.Join("\n", report.Findings));
        // the harness has teeth: the seeds (and some mutants) are accepted, most mutants are rejected
        Assert.True(report.Ok >= target.Seeds.Count, $"only {report.Ok} accepted");
        Assert.True(report.TypedErrors > report.Cases / 2, $"only {report.TypedErrors} typed errors");
        Assert.Equal(report.Cases, report.Ok + report.TypedErrors);
    }

    [Fact]
    public void CasesAreReproducibleFromSeedAndIndex()
    {
        using var target = FuzzTargets.Create("safetensors");
        for (int i = 0; i < 20; i++)
            Assert.Equal(Fuzzer.CaseInput(target, 3, i), Fuzzer.CaseInput(target, 3, i));
        Assert.Equal(target.Seeds[0], Fuzzer.CaseInput(target, 3, 0));
        Assert.NotEqual(Fuzzer.CaseInput(target, 3, 10), Fuzzer.CaseInput(target, 4, 10));
    }

    [Fact]
    public void AnUntypedExceptionIsClassifiedAsACrash()
    {
        using var target = new Throwing();
        Assert.Equal(FuzzOutcome.Crash, Fuzzer.RunCase(target, [1], out string? finding));
        Assert.Contains("IndexOutOfRangeException", finding);
        Assert.Equal(FuzzOutcome.TypedError, Fuzzer.RunCase(target, [2], out _));
        Assert.Equal(FuzzOutcome.WrongResult, Fuzzer.RunCase(target, [3], out _));
        Assert.Equal(FuzzOutcome.Ok, Fuzzer.RunCase(target, [4], out _));
    }

    sealed class Throwing : FuzzTarget
    {
        public override string Name => "throwing";
        public override IReadOnlyList<byte[]> Seeds { get; } = [[4]];
        public override bool Check(byte[] input) => input[0] switch
        {
            1 => throw new IndexOutOfRangeException("boom"),
            2 => throw new DeemFormatException("f", "bad"),
            3 => false,
            _ => true,
        };
    }
}
