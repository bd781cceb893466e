using Deem.World;
using Deem.Diagnostics;
using Deem.Inference;
using Deem.IO;
using Deem.Model;
using Deem.Tests.Inference;
using Deem.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Model;

/// <summary>
/// The meta + memory-map loader: what it loads equals the state-dict load in fp32, equals the fp32 model cast
/// in bf16, leaves the image towers without memory when text-only, and refuses a checkpoint that does not fit.
/// Non-parallel: it builds on the meta device, which switches the process's default device.
/// </summary>
[Collection(GlobalTorchStateCollection.Name)]
public class ModelLoaderTests
{
    /// <summary>A tiny random model with diffusion saved to a fresh folder; the caller disposes the model.</summary>
    static (DeemModel Model, string Folder) Saved(ulong seed)
    {
        var (config, tokenizer) = InferenceFixtures.WithTokenizer(WorldPresets.Tiny);
        var model = new DeemModel(config, new Generator(seed));
        InferenceFixtures.OpenGates(model);
        model.eval();
        var folder = Path.Combine(InferenceFixtures.TempDir(), "model");
        DeemCheckpoint.Save(folder, model, tokenizer);
        return (model, folder);
    }

    static bool Same(Tensor a, Tensor b) => a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    static Tensor Logits(DeemModel model, ulong seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var batch = SyntheticBatch.Interleaved(model.Config, new Generator(seed)) with { ImagesDec = null };
        var images = batch.ImagesEnc.to(model.Llm.parameters().First().dtype);
        return model.forward(batch with { ImagesEnc = images }).Logits.MoveToOuterDisposeScope();
    }

    [Fact]
    public void Fp32LoadHasTheSavedWeightsAndGivesTheNormalLoadsLogits()
    {
        using var scope = NewDisposeScope();
        var (saved, folder) = Saved(1);
        using (saved)
        {
            var loaded = ModelLoader.Load(folder);
            using var model = loaded.Model;
            model.eval();
            var expected = saved.state_dict();
            foreach (var (k, t) in model.state_dict())
            {
                Assert.Equal(DeviceType.CPU, t.device_type);
                Assert.True(Same(t, expected[k]), k);
            }
            Assert.Equal(expected.Count, loaded.Report.Tensors);
            Assert.Equal(expected.Values.Sum(t => t.numel() * 4), loaded.Report.Bytes);
            Assert.Empty(loaded.Report.LeftOnMeta);
            Assert.True(Same(Logits(model, 5), Logits(saved, 5)));
            var (normal, _) = DeemCheckpoint.Load(folder);                                        // built in fp32, then the state dict copied in
            using (normal)
            {
                normal.eval();
                Assert.True(Same(Logits(model, 5), Logits(normal, 5)));
            }
            // Trainability is the module's own, as a built model's (the VAE frozen, the rest not).
            var grads = saved.named_parameters().ToDictionary(p => p.name, p => p.parameter.requires_grad);
            Assert.All(model.named_parameters(), p => Assert.Equal(grads[p.name], p.parameter.requires_grad));
        }
    }

    [Fact]
    public void Bf16LoadEqualsTheFp32ModelCastToBf16()
    {
        using var scope = NewDisposeScope();
        var (saved, folder) = Saved(2);
        using (saved)
        {
            using var model = ModelLoader.Load(folder, new LoadOptions { Placement = new Placement(CPU, ScalarType.BFloat16) }).Model;
            model.eval();
            var expected = saved.state_dict();
            foreach (var (k, t) in model.state_dict())
            {
                Assert.Equal(ScalarType.BFloat16, t.dtype);
                Assert.True(Same(t, expected[k].to(ScalarType.BFloat16)), k);
            }
            saved.to(ScalarType.BFloat16);
            Assert.True(Same(Logits(model, 6), Logits(saved, 6)));
        }
    }

    [Fact]
    public void TextOnlyLeavesTheImageTowersOnMetaAndImageGenerationRefuses()
    {
        using var scope = NewDisposeScope();
        var (saved, folder) = Saved(3);
        using (saved)
        {
            var loaded = ModelLoader.Load(folder, LoadOptions.TextOnly());
            using var model = loaded.Model;
            model.eval();
            foreach (var (k, t) in model.state_dict())
                Assert.Equal(ModelLoader.IsImageOutputKey(k) ? DeviceType.META : DeviceType.CPU, t.device_type);
            Assert.Contains(loaded.Report.LeftOnMeta, k => k.StartsWith("visual_tokenizer.encoder.unet."));
            Assert.Contains(loaded.Report.LeftOnMeta, k => k.StartsWith("image_decoder."));
            Assert.Equal(saved.state_dict().Where(kv => !ModelLoader.IsImageOutputKey(kv.Key)).Sum(kv => kv.Value.numel() * 4), loaded.Report.Bytes);
            Assert.False(ModelLoader.HasImageOutput(model));
            Assert.True(ModelLoader.HasImageOutput(saved));
            // Text and VQA need none of them: the logits are the full model's.
            Assert.True(Same(Logits(model, 7), Logits(saved, 7)));
            var e = Assert.Throws<ModelCapabilityException>(() => new ImageGenerator(model));
            Assert.Contains("text only", e.Message);
        }
    }

    [Fact]
    public void ABf16LoadFromAnFp32FilePeaksAtItsBf16Weights()
    {
        // A widened tiny (LLM MLPs 16384 wide: ~27 M parameters, ~110 MB in fp32, ~55 MB in bf16), so the
        // measure is far above the process's noise. Building it in fp32 and casting would peak at 3x the bf16
        // weights; the bound leaves a quarter of the weights for the process's own growth (~12 MB measured).
        var (tiny, tokenizer) = InferenceFixtures.WithTokenizer(WorldPresets.Tiny);
        var config = tiny with { Llm = tiny.Llm with { IntermediateSize = 16384 } };
        var folder = Path.Combine(InferenceFixtures.TempDir(), "wide");
        var written = RandomCheckpoint.WriteFolder(folder, config, tokenizer, ScalarType.Float32, seed: 3);
        Assert.True(written.Bytes > 100_000_000, $"{written.Bytes} bytes");

        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.True(ProcessMemory.ResetPeak(), "this kernel lets a process reset its peak RSS (/proc/self/clear_refs)");
        long before = ProcessMemory.Resident()!.Value;
        var loaded = ModelLoader.Load(folder, new LoadOptions { Placement = new Placement(CPU, ScalarType.BFloat16) });
        long peak = ProcessMemory.Peak()!.Value;
        using var model = loaded.Model;

        long weights = model.state_dict().Values.Sum(t => t.numel() * 2);
        Assert.Equal(written.Bytes / 2, weights);
        Assert.Equal(weights, loaded.Report.Bytes);
        long rise = peak - before;
        Assert.True(rise <= weights * 1.25 + (16L << 20), $"peak rose {rise / 1e6:F1} MB for {weights / 1e6:F1} MB of bf16 weights");
    }

    [Fact]
    public void ATextOnlyBf16PipelineAnswersAboutAnImageAsTheCastFp32ModelDoes()
    {
        using var scope = NewDisposeScope();
        var (saved, folder) = Saved(8);
        using (saved)
        {
            var placement = new Placement(CPU, ScalarType.BFloat16);
            using var pipeline = DeemPipeline.Load(folder, options: LoadOptions.TextOnly(placement));
            var (_, tokenizer) = InferenceFixtures.WithTokenizer(WorldPresets.Tiny);
            saved.to(ScalarType.BFloat16);
            var reference = new DeemPipeline(saved, tokenizer);
            var picture = rand(new long[] { 3, 48, 40 }, generator: new Generator(9));
            var options = GenerationOptions.Greedy(4) with { MinNewTokens = 4 };
            var ids = pipeline.Text.Generate(pipeline.BuildPrompt(PromptTemplates.VqaEval("What is it?", saved.Config.ImageTokens), [picture]), options).Tokens;
            var expected = reference.Text.Generate(reference.BuildPrompt(PromptTemplates.VqaEval("What is it?", saved.Config.ImageTokens), [picture]), options).Tokens;
            Assert.Equal(4, ids.Length);
            Assert.Equal(expected, ids);
        }
    }

    [Fact]
    public void AMisfitCheckpointIsOneErrorNamingTheKeys()
    {
        using var scope = NewDisposeScope();
        var (saved, folder) = Saved(4);
        saved.Dispose();
        var weights = Path.Combine(folder, DeemCheckpoint.WeightsFile);
        Dictionary<string, Tensor> tensors;
        using (var file = SafetensorsFile.Open(weights)) tensors = file.LoadAll();
        tensors.Remove("soi_token", out var soi);
        soi!.Dispose();
        tensors["extra.weight"] = zeros(2);
        var proj = tensors["visual_tokenizer.proj_t.weight"];
        tensors["visual_tokenizer.proj_t.weight"] = zeros(proj.shape[0] + 1, proj.shape[1]);
        SafetensorsWriter.Write(weights, tensors);
        var err = Assert.Throws<DeemFormatException>(() => ModelLoader.Load(folder));
        Assert.Contains("missing keys (1): soi_token", err.Message);
        Assert.Contains("unexpected keys (1): extra.weight", err.Message);
        Assert.Contains("shape mismatch (1): visual_tokenizer.proj_t.weight", err.Message);
        Assert.DoesNotContain('\n', err.Message);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void AMissingFolderOrATorchFileIsRefusedByName()
    {
        var dir = InferenceFixtures.TempDir();
        Assert.Contains("model folder not found", Assert.Throws<DeemFormatException>(() => ModelLoader.Load(Path.Combine(dir, "gone"))).Message);
        Assert.Contains("memory-mapped", Assert.Throws<DeemFormatException>(() => MappedSafetensors.Open(Path.Combine(dir, "x.bin"))).Message);
    }
}
