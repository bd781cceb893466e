using Deem.Distributed;

namespace Deem.Tests.Distributed;

public class MemoryPlanTests
{
    [Fact]
    public void ZeroOneDividesTheOptimizerStateByTheRanks()
    {
        const double GiB = 1024.0 * 1024 * 1024;
        var rows = MemoryPlan.Rows(8_000_000_000, [("sft", 7_000_000_000)], [8, 32]);
        Assert.Equal(2 * 2 * 2, rows.Count);
        var fp16Off = rows.Single(r => r.Precision == "fp16 mixed" && r.Ranks == 8 && !r.Zero1);
        var fp16On = rows.Single(r => r.Precision == "fp16 mixed" && r.Ranks == 8 && r.Zero1);
        Assert.Equal((2.0 * 8e9 + 2.0 * 7e9 + 12.0 * 7e9) / GiB, fp16Off.Total, 6);   // ZeRO paper: 2Ψ + 2Ψ + 12Ψ
        Assert.Equal(12.0 * 7e9 / 8 / GiB, fp16On.Optimizer, 6);
        var fp32On = rows.Single(r => r.Precision == "fp32" && r.Ranks == 32 && r.Zero1);
        Assert.Equal(8.0 * 7e9 / 32 / GiB, fp32On.Optimizer, 6);
        Assert.True(fp32On.Total < rows.Single(r => r.Precision == "fp32" && r.Ranks == 32 && !r.Zero1).Total);
        Assert.Throws<DeemConfigException>(() => MemoryPlan.Rows(1, [("s", 1)], [0]));
    }
}
