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
