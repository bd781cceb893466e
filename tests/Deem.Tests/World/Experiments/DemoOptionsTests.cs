using Deem.Cli;
using Deem.World.Experiments;

namespace Deem.Tests.World.Experiments;

public class DemoOptionsTests
{
    [Fact]
    public void CommandLineGivesTheOptionsAndTheDefaultsAreToday()
    {
        var d = DemoCommand.ToOptions(DemoCommand.Create().Parse([]));
        Assert.Equal(new DemoOptions().Seeds, d.Seeds);
        Assert.Equal((30, 30, 120, 300, 2.0, "deem-demo"), (d.PopeImages, d.MmvpPairs, d.Stage1Steps, d.Stage2Steps, d.WorldScale, d.OutDir));
        Assert.Null(d.Stage0Steps);
        Assert.Equal(["deem"], d.Arches);

        var o = DemoCommand.ToOptions(DemoCommand.Create().Parse(
            ["--seeds", "4,5", "--arch", "deem,llava", "--pope-images", "7", "--mmvp-pairs", "9", "--stage0-steps", "3", "--world-scale", "0.5", "--out", "x"]));
        Assert.Equal([4, 5], o.Seeds);
        Assert.Equal(["deem", "llava"], o.Arches);
        Assert.Equal((7, 9, 3, 0.5, "x"), (o.PopeImages, o.MmvpPairs, o.Stage0Steps, o.WorldScale, o.OutDir));
        Assert.Equal(3, o.Stage0().UNetSteps);
    }

    [Theory]
    [InlineData("--pope-images", "0")]
    [InlineData("--mmvp-pairs", "0")]
    [InlineData("--stage1-steps", "0")]
    [InlineData("--world-scale", "NaN")]
    [InlineData("--seeds", "1,1")]
    [InlineData("--arch", "clip")]
    public void BadOptionsNameTheOption(string option, string value)
    {
        var e = Assert.Throws<DeemConfigException>(() => DemoCommand.ToOptions(DemoCommand.Create().Parse([option, value])));
        Assert.StartsWith(option, e.Message);
    }

    [Fact]
    public void TheReportSaysHowTheRunIsSmallerThanTheFullOne()
    {
        var o = new DemoOptions { Seeds = [0], Stage0Steps = 4, Stage1Steps = 4, Stage2Steps = 4, WorldScale = 0.3, PopeImages = 5, MmvpPairs = 5 };
        var sizes = o.Sizes();
        Assert.All(sizes, s => Assert.NotEqual(s.Full, s.Here));
        Assert.Contains(("seeds per arm", "1 (0)", "3 (0, 1, 2)"), sizes);
        Assert.Contains(("stage-2 (SFT) steps", "4", "1000"), sizes);
        Assert.DoesNotContain(DemoOptions.FullRun.Sizes(), s => s.Here != s.Full);
        Assert.Equal("deem experiment csr --world W --stage0 S0 --out X --arch deem --seeds 0,1,2 " +
                     "--stage1-steps 200 --stage2-steps 1000 --pope-images 30 --mmvp-pairs 30", DemoOptions.FullRun.Commands()[^1]);
        Assert.Equal("deem world make --out W --scale 8 --questions-per-image 3", DemoOptions.FullRun.Commands()[0]);
        Assert.Equal("deem world make --out W --scale 0.3 --questions-per-image 6", o.Commands()[0]);

        var md = Demo.Markdown(o, [], "DEEM seed 0", [], "# CSR ablation on the built-in world\n\n## Accuracy\n");
        Assert.Contains("| stage-2 (SFT) steps | **4** | 1000 |", md);
        Assert.Contains("    deem experiment csr --world W --stage0 S0 --out X --arch deem --seeds 0,1,2", md);
        Assert.Contains("\n## CSR ablation on the built-in world\n\n### Accuracy\n", md);   // the experiment's report, one level down
    }

    [Fact]
    public void TheWorldIsScaledButItsInDistributionSplitIsNot()
    {
        var w = new DemoOptions { WorldScale = 0.5 }.World();
        var d = new Deem.World.WorldOptions();
        Assert.Equal((int)Math.Round(d.Counts.CaptionPairs * 0.5, MidpointRounding.AwayFromZero), w.Counts.CaptionPairs);
        Assert.Equal(d.TestImagesInDistribution, w.TestImagesInDistribution);
        Assert.Equal(6, w.QuestionsPerImage);
    }
}
