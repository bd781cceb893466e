using Deem;
using Deem.Config;
using Deem.Training;

namespace Deem.Tests.Training;

public class StageConfigTests
{
    [Theory]
    [InlineData("paper-7b", "stage1"), InlineData("paper-7b", "stage1-baseline"), InlineData("paper-7b", "stage2"), InlineData("paper-7b", "stage3")]
    [InlineData("tiny", "stage1"), InlineData("tiny", "stage1-baseline"), InlineData("tiny", "stage2"), InlineData("tiny", "stage3")]
    public void EmbeddedStageConfigsLoadAndValidate(string preset, string stage)
    {
        var c = StageConfig.Load(preset, stage);
        Assert.Equal(stage.StartsWith("stage1") ? 1 : stage == "stage2" ? 2 : 3, c.Stage);
    }

    [Fact]
    public void NoCsrIsTheBaselineInStagesOneAndTwoAndRefusedInStageThree()
    {
        var s1 = TrainingSetup.StageConfigFor("tiny", 1, noCsr: true);
        Assert.Equal(("tiny-stage1-baseline", 0.0), (s1.Name, s1.CsrWeight));
        var s2 = TrainingSetup.StageConfigFor("tiny", 2, noCsr: true);
        var withCsr = TrainingSetup.StageConfigFor("tiny", 2);
        Assert.True(withCsr.CsrWeight > 0);
        Assert.Equal((withCsr.Name, withCsr.Steps, withCsr.Lr, withCsr.FreezeVfm, 0.0), (s2.Name, s2.Steps, s2.Lr, s2.FreezeVfm, s2.CsrWeight));
        var e = Assert.Throws<DeemConfigException>(() => TrainingSetup.StageConfigFor("tiny", 3, noCsr: true));
        Assert.Contains("--no-csr", e.Message);
    }

    [Fact]
    public void PaperStageOneHasTable11Values()
    {
        var c = StageConfig.Load("paper-7b", "stage1");
        Assert.Equal((1e-4, 0.05, 0.9, 0.995, 1e-6), (c.Lr, c.WeightDecay, c.Betas[0], c.Betas[1], c.Eps));
        Assert.Equal((10000, 1000, 256, 512), (c.Steps, c.WarmupSteps, c.EncoderResolution, c.DecoderResolution));
        Assert.Equal((1.0, 5.0, 5.0), (c.NtpWeight, c.NipWeight, c.CsrWeight));
        Assert.Equal((true, false, true), (c.FreezeLlm, c.FreezeVfm, c.FreezeDm));

        var b = StageConfig.Load("paper-7b", "stage1-baseline");
        Assert.Equal((true, true, false, 0.0), (b.FreezeLlm, b.FreezeVfm, b.FreezeDm, b.CsrWeight));
        Assert.Equal(5.0, b.NipWeight);
    }

    [Fact]
    public void FirstMatchingLrGroupWins()
    {
        var c = StageConfig.Load("paper-7b", "stage1");
        Assert.Equal((1e-4, 0.0), c.GroupFor("mm_decoder.layers.0.llama_cross_attn.gate"));
        Assert.Equal((1e-5, 0.0), c.GroupFor("mm_decoder.layers.4.llama_cross_attn.attn.sampling_offsets.weight"));
        Assert.Equal((1e-4, 0.05), c.GroupFor("mm_decoder.layers.4.llama_cross_attn.attn.value_proj.weight"));
        Assert.Equal((2e-5, 0.05), c.GroupFor("visual_tokenizer.sniffer.vision_model.visual.trunk.stem.0.weight"));
        Assert.Equal((1e-4, 0.05), c.GroupFor("visual_tokenizer.perceiver_resampler.queries"));
    }

    [Fact]
    public void BadValuesNameTheFileAndField()
    {
        var e = Assert.Throws<DeemConfigException>(() => StageConfig.Parse("stage: 1\nsteps: 0\nlr: 1\nbatch_size: 1\nmax_length: 8\nencoder_resolution: 8\ndecoder_resolution: 8\n", "s.yaml"));
        Assert.Equal("steps", e.Field);
        Assert.Contains("s.yaml", e.Message);

        var e2 = Assert.Throws<DeemConfigException>(() => StageConfig.Parse("stage: 1\nsteps: ten\n", "t.yaml"));
        Assert.Contains("t.yaml", e2.Message);
        Assert.Contains("line 2", e2.Message);

        var e3 = Assert.Throws<DeemConfigException>(() => StageConfig.Parse("stage: 1\nstepz: 10\n", "u.yaml"));
        Assert.Contains("stepz", e3.Message);
    }

    [Fact]
    public void CosineScheduleWithWarmup()
    {
        Assert.Equal(0.0, LrSchedule.Multiplier("cosine", 0, 10, 110));
        Assert.Equal(0.5, LrSchedule.Multiplier("cosine", 5, 10, 110), 12);
        Assert.Equal(1.0, LrSchedule.Multiplier("cosine", 10, 10, 110), 12);
        Assert.Equal(0.5, LrSchedule.Multiplier("cosine", 60, 10, 110), 12);
        Assert.Equal(0.0, LrSchedule.Multiplier("cosine", 110, 10, 110), 12);
        Assert.Equal(0.75, LrSchedule.Multiplier("linear", 35, 10, 110), 12);
    }
}
