using Deem.Model;
using Deem.Training;
using Deem.World;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Model;

/// <summary>Which weights <see cref="PlacementPolicy"/> holds low, and the boundary casts (seed-independent properties only).</summary>
public class PlacementPolicyTests
{
    [Fact]
    public void StageOneHoldsTheFrozenTowersLowAndEveryTrainableWeightFp32()
    {
        using var model = new DeemModel(WorldPresets.Tiny, new Generator(1));
        FreezeSchedule.DeemStage1.Apply(model);
        var towers = PlacementPolicy.ApplyForTraining(model, Placement.Parse("cpu", "bf16"));

        foreach (var t in new[] { "visual_tokenizer.encoder.unet", "visual_tokenizer.encoder.vae", "text_decoder.head", "mm_decoder.embed_tokens", "mm_decoder.norm" })
            Assert.Contains(t, towers);
        // The LLM body is cast piece by piece around its trainable cross-attention, never as a whole.
        Assert.DoesNotContain("mm_decoder", towers);
        Assert.Contains(towers, t => t.StartsWith("mm_decoder.layers.0.self_attn", StringComparison.Ordinal));
        foreach (var (name, p) in model.named_parameters())
        {
            bool inTower = towers.Any(t => name.StartsWith(t + ".", StringComparison.Ordinal));
            Assert.True(inTower == (p.dtype == ScalarType.BFloat16), $"{name}: {p.dtype}, in a tower: {inTower}");
            if (p.requires_grad) Assert.False(inTower, $"{name} is trainable but was cast");
        }
        // Fixed tables inside trainable modules stay fp32 with the code around them.
        Assert.All(model.named_parameters().Where(p => p.name.EndsWith(".pos_embed", StringComparison.Ordinal)),
            p => Assert.Equal(ScalarType.Float32, p.parameter.dtype));
    }

    [Fact]
    public void Fp32PlacementChangesNothingAndInferenceCastsEveryWeight()
    {
        using var model = new DeemModel(WorldPresets.Tiny, new Generator(2));
        FreezeSchedule.DeemStage1.Apply(model);
        Assert.Empty(PlacementPolicy.ApplyForTraining(model, Placement.Default));
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));

        PlacementPolicy.ApplyForInference(model, Placement.Parse("cpu", "fp16"));
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float16, p.dtype));
        Assert.Equal(ScalarType.Float16, PlacementPolicy.DTypeOf(model.Llm));
        Assert.Equal(DeviceType.CPU, model.Device.type);
    }

    [Fact]
    public void DecodingLayoutKeepsEveryKeyShapeValueAndLogitAndSavesTheSameCheckpoint()
    {
        using var scope = NewDisposeScope();
        using var model = new DeemModel(WorldPresets.Tiny, new Generator(3));
        model.eval();
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var ids = randint(7, 200, new long[] { 2, 9 }, generator: new Generator(4));
        Tensor Logits() { using var _ = no_grad(); return model.TextHead.forward(model.Llm.forward(new Deem.Language.LlamaModelInput(InputIds: ids))); }
        var logits = Logits();

        PlacementPolicy.ApplyForInference(model, Placement.Default);              // lays the LLM's weights out on the CPU

        var layers = model.named_parameters().Where(p => p.name == "mm_decoder.layers.0.self_attn.q_proj.weight"
                                                        || p.name == "mm_decoder.layers.0.mlp.up_proj.weight" || p.name == "text_decoder.head.weight").ToList();
        Assert.Equal(3, layers.Count);
        Assert.NotEmpty(layers);
        foreach (var (name, p) in layers)
        {
            Assert.False(p.is_contiguous(), $"{name} keeps its [out, in] layout");
            Assert.Equal(new long[] { 1, p.shape[0] }, p.stride());
        }
        var after = model.state_dict();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (k, v) in before)
        {
            Assert.Equal(v.shape, after[k].shape);
            Assert.True(v.eq(after[k]).all().item<bool>(), k);
        }
        Assert.True((Logits() - logits).abs().max().item<float>() <= 1e-5f);

        // A model folder written from it reads back with the same values.
        using var tmp = new TempDir();
        DeemCheckpoint.Save(tmp.Path, model, Deem.World.WorldTokenizer.Default);
        var (reloaded, _) = DeemCheckpoint.Load(tmp.Path);
        using (reloaded)
            foreach (var (k, v) in reloaded.state_dict())
                Assert.True(v.eq(before[k]).all().item<bool>(), k);
    }

    [Fact]
    public void BoundaryCastsTouchOnlyFloatingTensorsOfAnotherDType()
    {
        using var scope = NewDisposeScope();
        using var low = nn.Linear(2, 2);
        low.to(ScalarType.BFloat16);
        var x = ones(3, 2);
        var ids = ones(3, 2, dtype: ScalarType.Int64);
        Assert.Equal(ScalarType.BFloat16, x.AsInputOf(low).dtype);
        Assert.Same(ids, ids.AsInputOf(low));
        var y = low.forward(x.AsInputOf(low));
        Assert.Equal(ScalarType.Float32, y.Fp32().dtype);
        Assert.Same(x, x.Fp32());
    }
}
