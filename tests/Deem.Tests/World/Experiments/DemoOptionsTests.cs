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
        Assert.Equal((64, 64, 64), (d.ImageSize, d.World().ImageSize, d.Stage0().Resolution));

        var o = DemoCommand.ToOptions(DemoCommand.Create().Parse(
            ["--seeds", "4,5", "--arch", "deem,llava", "--pope-images", "7", "--mmvp-pairs", "9", "--stage0-steps", "3", "--world-scale", "0.5", "--out", "x",
             "--caption-pairs", "40", "--vqa-images", "30", "--image-size", "128"]));
        Assert.Equal([4, 5], o.Seeds);
        Assert.Equal(["deem", "llava"], o.Arches);
        Assert.Equal((7, 9, 3, 0.5, "x"), (o.PopeImages, o.MmvpPairs, o.Stage0Steps, o.WorldScale, o.OutDir));
        Assert.Equal(3, o.Stage0().UNetSteps);
        Assert.Equal((40, 30), (o.World().Counts.CaptionPairs, o.World().Counts.VqaImages));
        Assert.Null(d.CaptionPairs);
        // One side for the world's images and the encoder that reads them.
        Assert.Equal((128, 128), (o.World().ImageSize, o.Stage0().Resolution));
    }

    [Theory]
    [InlineData("--pope-images", "0")]
    [InlineData("--mmvp-pairs", "0")]
    [InlineData("--stage1-steps", "0")]
    [InlineData("--world-scale", "NaN")]
    [InlineData("--vqa-images", "0")]
    [InlineData("--caption-pairs", "-3")]
    [InlineData("--seeds", "1,1")]
    [InlineData("--arch", "clip")]
    [InlineData("--image-size", "48")]
    [InlineData("--image-size", "0")]
    public void BadOptionsNameTheOption(string option, string value)
    {
        var e = Assert.Throws<DeemConfigException>(() => DemoCommand.ToOptions(DemoCommand.Create().Parse([option, value])));
        Assert.StartsWith(option, e.Message);
    }

    [Fact]
    public void TheReportSaysHowTheRunIsSmallerThanTheFullOne()
    {
        var o = new DemoOptions { Seeds = [0], Stage0Steps = 4, Stage1Steps = 4, Stage2Steps = 4, WorldScale = 0.3, PopeImages = 5, MmvpPairs = 5, QuestionsPerImage = 2 };
        var sizes = o.Sizes();
        Assert.All(sizes, s => Assert.NotEqual(s.Full, s.Here));
        Assert.Contains(("seeds per arm", "1 (0)", "3 (0, 1, 2)"), sizes);
        Assert.Contains(("stage-2 (SFT) steps", "4", "48000"), sizes);
        Assert.Contains(("stage-0 steps", "CLIP 4, LLaMA 4, VAE 4, UNet 4", "CLIP 6000, LLaMA 400, VAE 1500, UNet 500"), sizes);
        Assert.Contains(("image side (world and encoder)", "64 px", "96 px"), sizes);
        Assert.Contains(("instruction (SFT) images", "38", "16384"), sizes);
        Assert.Contains(("caption pairs (stage-0 data)", "77", "65536"), sizes);
        Assert.Contains(("POPE images per split", "5", "500"), sizes);           // the benchmarks' own sizes (§2.23)
        Assert.Contains(("MMVP pairs", "5", "150"), sizes);
        Assert.DoesNotContain(DemoOptions.FullRun.Sizes(), s => s.Here != s.Full);
        // The full run is the 96-px recipe of docs/experiments.md §2.16–2.19 on §2.22's 48 000-step schedule, command for
        // command, scored on the benchmarks at their own sizes (§2.23).
        Assert.Equal(
        [
            "deem world make --out W --scale 8 --caption-pairs 65536 --vqa-images 16384 --questions-per-image 3 --image-size 96",
            "deem train --stage 0 --world W --out S0 --component-steps 6000,400,1500,500 --batch-size 128 --resolution 96",
            "deem experiment csr --world W --stage0 S0 --out X --arch deem --seeds 0,1,2 " +
            "--stage1-steps 300 --stage2-steps 48000 --pope-images 500 --mmvp-pairs 150",
        ], DemoOptions.FullRun.Commands());
        Assert.Equal("deem world make --out W --scale 0.3 --questions-per-image 2", o.Commands()[0]);
        Assert.Equal("deem train --stage 0 --world W --out S0 --component-steps 4,4,4,4", o.Commands()[1]);
        Assert.Equal("deem train --stage 0 --world W --out S0", new DemoOptions().Commands()[1]);

        var md = Demo.Markdown(o, [], "DEEM seed 0", [], "# CSR ablation on the built-in world\n\n## Accuracy\n");
        Assert.Contains("| stage-2 (SFT) steps | **4** | 48000 |", md);
        Assert.Contains("| image side (world and encoder) | **64 px** | 96 px |", md);
        Assert.Contains("    deem experiment csr --world W --stage0 S0 --out X --arch deem --seeds 0,1,2", md);
        Assert.Contains("\n## CSR ablation on the built-in world\n\n### Accuracy\n", md);   // the experiment's report, one level down
    }

    [Fact]
    public void TheFullRunsWorldAndStage0AreThoseOfItsCommands()
    {
        var f = DemoOptions.FullRun;
        Assert.Equal((65_536, 16_384, 3), (f.World().Counts.CaptionPairs, f.World().Counts.VqaImages, f.World().QuestionsPerImage));
        Assert.Equal((6_000, 400, 1500, 500, 128), (f.Stage0().ClipSteps, f.Stage0().LlmSteps, f.Stage0().VaeSteps, f.Stage0().UNetSteps, f.Stage0().BatchSize));
        Assert.Equal((96, 96), (f.World().ImageSize, f.Stage0().Resolution));
        // Another world size leaves the other scaled counts as they were.
        Assert.Equal(new Deem.World.WorldCounts().Scaled(8).Mmc4Docs, f.World().Counts.Mmc4Docs);
        var o = new DemoOptions { VqaImages = 100 };
        Assert.Equal((100, new Deem.World.WorldCounts().Scaled(2).CaptionPairs), (o.World().Counts.VqaImages, o.World().Counts.CaptionPairs));
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
