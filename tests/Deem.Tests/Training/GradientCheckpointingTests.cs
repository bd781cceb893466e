using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Model;
using Deem.Tests.Data;
using Deem.Training;
using Deem.World;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>The stage switch and whole tiny training steps with every module kind recomputed in backward.</summary>
[Collection(TrainingCollection.Name)]
public class GradientCheckpointingTests(TrainingWorld world)
{
    [Fact]
    public void TheStageKeyParsesAndThePaperStagesSwitchEverythingOn()
    {
        const string yaml = "stage: 2\nsteps: 1\nlr: 1\nbatch_size: 1\nmax_length: 8\nencoder_resolution: 8\ndecoder_resolution: 8\n";
        Assert.Equal(GradientCheckpointingConfig.None, StageConfig.Parse(yaml, "a.yaml").GradientCheckpointing);
        var some = StageConfig.Parse(yaml + "gradient_checkpointing: { llm: true, unet: true }\n", "b.yaml").GradientCheckpointing;
        Assert.Equal(new GradientCheckpointingConfig { Llm = true, Unet = true }, some);

        var e = Assert.Throws<DeemConfigException>(() => StageConfig.Parse(yaml + "gradient_checkpointing: { vae: true }\n", "c.yaml"));
        Assert.Contains("c.yaml", e.Message);
        Assert.Contains("vae", e.Message);
        var empty = Assert.Throws<DeemConfigException>(() => StageConfig.Parse(yaml + "gradient_checkpointing:\n", "d.yaml"));
        Assert.Equal("gradient_checkpointing", empty.Field);

        // A resumed run reads the stage back from the trainer state.
        var state = new TrainerState { Stage = StageConfig.Parse(yaml, "e.yaml") with { GradientCheckpointing = some }, Data = new DataPosition() };
        Assert.Equal(some, TrainerState.Parse(state.ToJson(), "state.json").Stage.GradientCheckpointing);

        foreach (var s in new[] { "stage1", "stage1-baseline", "stage2", "stage3" })
        {
            Assert.Equal(GradientCheckpointingConfig.All, StageConfig.Load("paper-7b", s).GradientCheckpointing);
            Assert.Equal(GradientCheckpointingConfig.None, StageConfig.Load("tiny", s).GradientCheckpointing);
        }
    }

    /// <summary>
    /// Stage 1 (NTP + NIP + CSR, in training mode): ConvNeXt, both Q-Formers (with dropout), the MMFS
    /// cross-attention and MMFSNet train through the frozen LLaMA and UNet; the second step shows the
    /// random generators continue as without checkpointing.
    /// </summary>
    [Fact]
    public void TwoTrainingStepsWithCheckpointingEqualTwoWithout()
    {
        var stage = TrainingWorld.Stage(1, 2);
        var plain = TwoSteps(stage with { GradientCheckpointing = GradientCheckpointingConfig.None });
        var ckpt = TwoSteps(stage with { GradientCheckpointing = GradientCheckpointingConfig.All });

        Assert.Equal(0, plain.Recomputes);
        Assert.True(ckpt.Recomputes > 0);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(plain.Losses[i], ckpt.Losses[i], 1e-5 * Math.Max(1, Math.Abs(plain.Losses[i])));
            Assert.Equal(plain.GradNorms[i], ckpt.GradNorms[i], 1e-4 * Math.Max(1, plain.GradNorms[i]));
        }
        Assert.Equal(plain.Grads.Keys.Order(), ckpt.Grads.Keys.Order());
        Assert.Contains(plain.Grads.Values, g => g.abs().max().item<float>() > 1e-4);
        // float32: with checkpointing autograd sums some gradients in another order (rounding only).
        foreach (var (k, g) in plain.Grads)
        {
            double diff = (g - ckpt.Grads[k]).abs().max().item<float>();
            Assert.True(diff <= 1e-4 * Math.Max(1e-3, g.abs().max().item<float>()), $"{k}: max |Δgrad| {diff}");
        }
        foreach (var (k, w) in plain.Weights)
        {
            double diff = (w - ckpt.Weights[k]).abs().max().item<float>();
            Assert.True(diff <= 1e-6, $"{k}: max |Δweight| {diff}");
        }
    }

    sealed record Steps(double[] Losses, double[] GradNorms, Dictionary<string, Tensor> Grads, Dictionary<string, Tensor> Weights, long Recomputes);

    Steps TwoSteps(StageConfig stage)
    {
        using var model = TrainingWorld.Model(stage, seed: 0);
        using var data = world.Stream(stage);
        using var dir = new TempDir();
        using var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir.Path, Seed = 3, TensorBoard = false });
        Assert.Equal(stage.GradientCheckpointing with { ImageDecoder = stage.GradientCheckpointing.ImageDecoder && model.ImageDecoder is not null },
            GradientCheckpointing.Of(model));
        model.train();
        long before = ActivationCheckpoint.RecomputesOnThisThread;
        var metrics = new[] { trainer.TrainStep(), trainer.TrainStep() };
        return new Steps(metrics.Select(m => m.Loss).ToArray(), metrics.Select(m => m.GradNorm).ToArray(),
            model.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.clone()),
            TrainingWorld.Snapshot(model), ActivationCheckpoint.RecomputesOnThisThread - before);
    }
}
