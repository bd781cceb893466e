using Deem.World.Benchmarks;
using Deem.World.Experiments;

namespace Deem.Tests.World.Experiments;

public class AccuracyTableTests
{
    static ArmRun Run(int seed, double rvqaId, double mmvpUnseen) => new(seed, new Dictionary<string, double>
    {
        [WorldBreakdown.InDistribution] = rvqaId, [WorldBreakdown.MmvpUnseen] = mmvpUnseen,
        [CsrExperimentReport.YesRatioColumn] = 100,
    }, 0.1, 1);

    [Fact]
    public void RowsHaveTheirChanceLevelAndArmsTheirMeanAndInterval()
    {
        var baseline = new ExperimentArm("baseline", "deem", false, [Run(0, 50, 20), Run(1, 52, 30), Run(2, 54, 40)]);
        var deem = new ExperimentArm("DEEM", "deem", true, [Run(0, 60, 25)]);
        var md = AccuracyTable.Markdown([baseline, deem]);

        Assert.StartsWith("| benchmark | chance | baseline (3 seeds) | DEEM (1 seed) |\n|---|---|---|---|\n", md);
        // Mean ± t(0.975, 2)·s/√3 with s = 2: 52 ± 4.97; one seed: the value alone.
        Assert.Contains("| RobustVQA-ID, held-out in-distribution (%) | 50 | 52.00 ± 4.97 | 60.00 |", md);
        Assert.Contains("| MMVP pairs, attributes CLIP never read (%) | 25 | 30.00 ± 24.84 | 25.00 |", md);
        Assert.Contains("| POPE yes-ratio (%, 50 = unbiased) | 50 | 100.00 ± 0.00 | 100.00 |", md);
        Assert.Contains("| RobustVQA-A, shifted (OOD) (%) | 50 | – | – |", md);      // not measured
        Assert.Equal(2 + AccuracyTable.Rows.Count, md.Trim().Split('\n').Length);
        Assert.Equal(["50", "50", "50", "50", "50", "50", "50", "50", "25", "25", "25", "0"], AccuracyTable.Rows.Select(r => r.Chance));
    }

    [Fact]
    public void CellsFollowTheHeader()
    {
        var arm = new ExperimentArm("LLaVA", "llava", false, [Run(0, 48, 0)]);
        var header = AccuracyTable.Header([arm]);
        Assert.All(AccuracyTable.Cells([arm]), row => Assert.Equal(header.Count, row.Count));
        Assert.Equal("48.00", AccuracyTable.Cells([arm])[0][2]);
        Assert.StartsWith("One seed", AccuracyTable.SeedsNote([arm]));
        var gap = new ArmRun(0, new Dictionary<string, double> { [CsrExperimentReport.ImageGapColumn] = -0.00004 }, 0.1, 1);
        Assert.Equal("0.00", AccuracyTable.Cell(arm with { Runs = [gap] }, CsrExperimentReport.ImageGapColumn));   // not -0.00
    }
}
