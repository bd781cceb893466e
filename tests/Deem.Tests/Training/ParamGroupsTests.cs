using Deem.World;
using Deem.Config;
using Deem.Model;
using Deem.Training;
using TorchSharp.Modules;

namespace Deem.Tests.Training;

public class ParamGroupsTests
{
    static (DeemModel Model, List<OptimizerGroup> Groups, Dictionary<string, OptimizerGroup> ByName) Build(StageConfig stage)
    {
        var model = new DeemModel(TrainingSetup.ModelConfigFor(WorldPresets.Tiny, stage));
        FreezeSchedule.Of(stage).Apply(model);
        var groups = ParamGroups.Build(model, stage);
        var byName = groups.SelectMany(g => g.Parameters.Select(p => (p.Name, Group: g))).ToDictionary(x => x.Name, x => x.Group);
        return (model, groups, byName);
    }

    [Fact]
    public void StageOneGroupsFollowTheRulesAndLeaveFrozenParametersOut()
    {
        var stage = StageConfig.Load("tiny", "stage1");
        var (model, groups, byName) = Build(stage);
        using var _ = model;
        var all = model.named_parameters().ToList();

        // Exactly the trainable parameters, each once.
        Assert.Equal(all.Where(p => p.parameter.requires_grad).Select(p => p.name).Order(), byName.Keys.Order());
        Assert.Equal(byName.Count, groups.Sum(g => g.Parameters.Count));
        Assert.DoesNotContain(byName.Keys, k => k.StartsWith("visual_tokenizer.encoder.unet.") || k.StartsWith("visual_tokenizer.encoder.vae."));
        Assert.DoesNotContain(byName.Keys, k => k.StartsWith("mm_decoder.layers.") && !k.Contains(".llama_cross_attn."));

        // No decay on biases; the MMFS gates at the gate rule's lr with weight decay 0.
        Assert.All(byName.Where(kv => kv.Key.EndsWith(".bias")), kv => Assert.Equal(0.0, kv.Value.WeightDecay));
        var gates = byName.Where(kv => kv.Key.EndsWith("llama_cross_attn.gate")).ToList();
        Assert.NotEmpty(gates);
        Assert.All(gates, kv => Assert.Equal((1e-3, 0.0), (kv.Value.Lr, kv.Value.WeightDecay)));
        // sampling_offsets: lr 3e-4, wd 0 for weights too; other cross-attention weights decayed at 1e-3.
        var offsets = byName.First(kv => kv.Key.EndsWith("sampling_offsets.weight") && kv.Key.StartsWith("mm_decoder.layers."));
        Assert.Equal((3e-4, 0.0), (offsets.Value.Lr, offsets.Value.WeightDecay));
        var valueProj = byName.First(kv => kv.Key.StartsWith("mm_decoder.") && kv.Key.EndsWith("value_proj.weight"));
        Assert.Equal((1e-3, 0.05), (valueProj.Value.Lr, valueProj.Value.WeightDecay));
        // ConvNeXt trunk weights: the "vision_model.visual" rule, decayed.
        var trunk = byName.First(kv => kv.Key.StartsWith("visual_tokenizer.sniffer.vision_model.visual.") && kv.Key.EndsWith("conv_dw.weight"));
        Assert.Equal((2e-4, 0.05), (trunk.Value.Lr, trunk.Value.WeightDecay));   // 1/5 of the base 1e-3, the paper's ratio
    }

    [Fact]
    public void LayerNormParametersAreNotDecayedButRmsNormWeightsAre()
    {
        var stage = StageConfig.Load("tiny", "stage2");                 // the LLM trains in stage 2
        var (model, _, byName) = Build(stage);
        using var _ = model;
        var noDecay = ParamGroups.NoDecayNames(model);

        // Every parameter of every nn.LayerNorm (and timm's LayerNorm2d) is in the no-decay set, found by module type.
        var layerNorms = model.named_modules().Where(m => m.module is LayerNorm or Deem.Vision.LayerNorm2d).ToList();
        Assert.Contains(layerNorms, m => m.module is LayerNorm);
        Assert.Contains(layerNorms, m => m.module is Deem.Vision.LayerNorm2d);
        foreach (var (name, module) in layerNorms)
            foreach (var (p, _) in module.named_parameters(recurse: false))
            {
                Assert.Contains($"{name}.{p}", noDecay);
                if (byName.TryGetValue($"{name}.{p}", out var g)) Assert.Equal(0.0, g.WeightDecay);
            }
        Assert.Contains(byName.Keys, k => noDecay.Contains(k) && k.EndsWith(".weight"));   // a trainable LayerNorm weight

        // LLaMA RMSNorm weights are decayed (the authors' trainer only exempts nn.LayerNorm), in the mm_decoder group.
        var rms = byName.Where(kv => kv.Key.StartsWith("mm_decoder.") && kv.Key.EndsWith("layernorm.weight")).ToList();
        Assert.NotEmpty(rms);
        Assert.All(rms, kv => Assert.Equal((stage.GroupFor(kv.Key).Lr, 0.05), (kv.Value.Lr, kv.Value.WeightDecay)));
        Assert.All(rms, kv => Assert.Equal(1.5e-4, kv.Value.Lr));                // the tiny stage-2 "mm_decoder" group
        Assert.DoesNotContain(rms, kv => noDecay.Contains(kv.Key));
        Assert.Equal(0.05, byName["mm_decoder.norm.weight"].WeightDecay);
    }

    [Fact]
    public void OptimiserGetsOneGroupPerLrAndDecayPair()
    {
        var stage = StageConfig.Load("tiny", "stage1");
        var (model, groups, _) = Build(stage);
        using var _ = model;
        Assert.Equal(groups.Count, groups.Select(g => (g.Lr, g.WeightDecay)).Distinct().Count());
        using var optimizer = ParamGroups.AdamW(groups, stage);
        var controllers = optimizer.ParamGroups.ToList();
        Assert.Equal(groups.Select(g => g.Lr), controllers.Select(c => c.LearningRate));
    }
}
