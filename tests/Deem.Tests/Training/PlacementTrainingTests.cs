using Deem.Data.Formats;
using Deem.Data.Pipeline;
using Deem.IO;
using Deem.Model;
using Deem.Text;
using Deem.Training;
using Deem.World;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>
/// Devices and the dtype policy of a training step (<see cref="PlacementPolicy"/>). The device test runs a
/// real step of the tiny model on the CPU while torch's default device is <c>meta</c>: any tensor the
/// library creates without naming the device of the module or input it belongs to lands on meta, and
/// the first op that meets a CPU tensor fails ("Expected all tensors to be on the same device"), so the
/// test catches a misplaced tensor the way a CUDA run would. (A full meta run is not possible: libtorch
/// has no meta kernels for convolutions.)
/// </summary>
[Collection(TrainingCollection.Name)]
public class PlacementTrainingTests(TrainingWorld world)
{
    /// <summary>
    /// Loss terms of one bf16 step agree with those of the fp32 step to 1 % relatively (measured: 0.04 %
    /// on the total); the trainable parameters' updates agree to a relative L2 distance of 0.15 and a
    /// cosine of at least 0.99 (measured: 0.061 and 0.998). AdamW's first update is ≈ lr·sign(g), so
    /// each small gradient whose sign bf16 rounding flips moves the update by 2·lr.
    /// </summary>
    const double LossTolerance = 0.01, UpdateDistance = 0.15, UpdateCosine = 0.99;

    /// <summary>Collates on the host: the data pipeline builds CPU batches that <see cref="BatchInput"/> moves to the model's device.</summary>
    sealed class HostStream(IBatchStream inner) : IBatchStream
    {
        public DeemBatch Next()
        {
            var previous = get_default_device();
            set_default_device(CPU);
            try { return inner.Next(); }
            finally { set_default_device(previous); }
        }

        public DataPosition Position => inner.Position;
        public SkipCounter Skips => inner.Skips;
        public IReadOnlyDictionary<string, int> SkipTotals => inner.SkipTotals;
        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public void TrainStepAndEvaluationCreateEveryTensorOnTheModelsDevice()
    {
        var stage = TrainingWorld.Stage(1, 2) with { EvalBatches = 2 };
        using var model = TrainingWorld.Model(stage, seed: 3);
        using var data = new HostStream(world.Stream(stage));
        using var eval = TrainingSetup.OpenEvalSet(stage, world.Paths, WorldTokenizer.Default, model.Config.ImageTokens, "world");
        using var dir = new TempDir();
        using var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir.Path, TensorBoard = false });
        model.train();
        StepMetrics m;
        EvalMetrics e;
        ImageRelianceReport r;
        var previous = get_default_device();
        set_default_device(META);
        try
        {
            m = trainer.TrainStep();
            e = eval.Evaluate(model, stage, trainer.Step);
            r = ImageReliance.Measure(model, eval, stage);
        }
        finally { set_default_device(previous); }
        Assert.True(double.IsFinite(m.Loss) && m.Ntp > 0 && m.Nip > 0 && m.Csr > 0, $"loss {m.Loss} ntp {m.Ntp} nip {m.Nip} csr {m.Csr}");
        Assert.True(double.IsFinite(e.Loss) && double.IsFinite(e.NtpShuffled), $"eval loss {e.Loss}, shuffled {e.NtpShuffled}");
        Assert.True(r.Images > 0 && double.IsFinite(r.EncoderSpread));
        Assert.All(model.parameters(), p => Assert.Equal(DeviceType.CPU, p.device_type));
    }

    /// <summary>
    /// Every stage's frozen towers in bf16 (DEEM* with its frozen ConvNeXt trunk and trainable UNet, the SFT
    /// stages with the trainable LLM and frozen trunk and UNet, stage 3's mask extractor), one step with
    /// meta as the default device: the casts meet at every tower boundary, and no tensor is off the device.
    /// </summary>
    [Theory]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    public void Bf16StepOfEveryStageRunsOnTheModelsDevice(int stageNumber, bool noCsr)
    {
        var stage = TrainingWorld.Stage(stageNumber, 2, noCsr) with { MaxLength = 400 };   // room for a region question
        using var model = TrainingWorld.Model(stage, seed: 9);
        using var data = new HostStream(world.Stream(stage));
        using var dir = new TempDir();
        using var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions
        {
            OutDir = dir.Path, TensorBoard = false, Placement = Placement.Parse("cpu", "bf16"),
        });
        model.train();
        StepMetrics m;
        var previous = get_default_device();
        set_default_device(META);
        try { m = trainer.TrainStep(); }
        finally { set_default_device(previous); }
        Assert.True(double.IsFinite(m.Loss) && m.Loss > 0, $"{stage.Name}: loss {m.Loss}");
        var named = model.named_parameters().ToList();
        Assert.All(named.Where(p => p.parameter.requires_grad), p => Assert.Equal(ScalarType.Float32, p.parameter.dtype));
        Assert.Contains(named, p => p.parameter.dtype == ScalarType.BFloat16);
        if (stageNumber > 1)     // the SFT stages freeze the ConvNeXt trunk (its adapters train)
            Assert.Equal(ScalarType.BFloat16, named.First(p => p.name.StartsWith("visual_tokenizer.sniffer.vision_model.visual.trunk.")).parameter.dtype);
    }

    (StepMetrics Metrics, Dictionary<string, Tensor> Before, DeemModel Model, Trainer Trainer, IBatchStream Data) Step(string dtype, TempDir dir)
    {
        var stage = TrainingWorld.Stage(1, 2);
        var model = TrainingWorld.Model(stage, seed: 5);
        var before = TrainingWorld.Snapshot(model);
        var data = world.Stream(stage);
        var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions
        {
            OutDir = dir.Path, TensorBoard = false, Seed = 7, Placement = Placement.Parse("cpu", dtype),
        });
        model.train();
        return (trainer.TrainStep(), before, model, trainer, data);
    }

    [Fact]
    public void Bf16StepGivesTheLossesAndUpdatesOfTheFp32Step()
    {
        using var d32 = new TempDir();
        using var d16 = new TempDir();
        var (m32, before32, model32, trainer32, data32) = Step("fp32", d32);
        var (m16, before16, model16, trainer16, data16) = Step("bf16", d16);
        using (model32) using (trainer32) using (data32) using (model16) using (trainer16) using (data16)
        {
            foreach (var (name, a, b) in new[] { ("loss", m32.Loss, m16.Loss), ("ntp", m32.Ntp, m16.Ntp), ("nip", m32.Nip, m16.Nip), ("csr", m32.Csr, m16.Csr) })
                Assert.True(Math.Abs(a - b) <= LossTolerance * Math.Abs(a), $"{name}: fp32 {a} vs bf16 {b}");

            var p32 = model32.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter);
            var p16 = model16.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter);
            Assert.Equal(p32.Keys.Order(), p16.Keys.Order());
            using var scope = NewDisposeScope();
            var u32 = cat(p32.Keys.Order().Select(k => (p32[k].detach() - before32[k]).flatten()).ToArray());
            var u16 = cat(p32.Keys.Order().Select(k => (p16[k].detach() - before16[k]).flatten()).ToArray());
            double norm = u32.norm().item<float>();
            double distance = (u16 - u32).norm().item<float>() / norm;
            double cosine = (u16 * u32).sum().item<float>() / (norm * u16.norm().item<float>());
            Assert.True(norm > 0, "the fp32 step moved no trainable parameter");
            Assert.True(distance <= UpdateDistance, $"relative L2 distance of the updates {distance:F4} (cosine {cosine:F4})");
            Assert.True(cosine >= UpdateCosine, $"cosine of the updates {cosine:F4} (relative distance {distance:F4})");
        }
    }

    [Fact]
    public void Bf16StepKeepsTrainableWeightsAndAdamStateFp32AndFrozenTowersBf16()
    {
        using var dir = new TempDir();
        var (m, _, model, trainer, data) = Step("bf16", dir);
        using (model) using (trainer) using (data)
        {
            Assert.True(double.IsFinite(m.Loss));
            var named = model.named_parameters().ToList();
            Assert.All(named.Where(p => p.parameter.requires_grad), p => Assert.Equal(ScalarType.Float32, p.parameter.dtype));
            foreach (var tower in new[] { "visual_tokenizer.encoder.unet.", "visual_tokenizer.encoder.vae.", "text_decoder.head.",
                         "mm_decoder.embed_tokens.", "mm_decoder.layers.0.self_attn.", "mm_decoder.layers.0.mlp.", "mm_decoder.norm." })
            {
                var ps = named.Where(p => p.name.StartsWith(tower, StringComparison.Ordinal)).ToList();
                Assert.NotEmpty(ps);
                Assert.All(ps, p => Assert.Equal(ScalarType.BFloat16, p.parameter.dtype));
            }
            // Stage 1 trains the LLM's cross-attention inside its frozen bf16 body.
            Assert.Contains(named, p => p.name.Contains(".llama_cross_attn.") && p.parameter.requires_grad);

            string folder = trainer.SaveCheckpoint();
            using var state = SafetensorsFile.Open(Path.Combine(folder, TrainingCheckpoint.OptimizerFile));
            var moments = state.Keys.Where(k => k.EndsWith(".exp_avg", StringComparison.Ordinal) || k.EndsWith(".exp_avg_sq", StringComparison.Ordinal)).ToList();
            Assert.Equal(2 * named.Count(p => p.parameter.requires_grad), moments.Count);
            Assert.All(moments, k => Assert.Equal(ScalarType.Float32, state.Entry(k).Dtype));
        }
    }
}
