using Deem.Config;
using Deem.Vision;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>One AdamW parameter group: the trainable parameters that share a learning rate and a weight decay.</summary>
/// <param name="Lr">Peak learning rate (before the schedule's multiplier).</param>
/// <param name="WeightDecay">Decoupled weight decay (AdamW).</param>
/// <param name="Parameters">The group's parameters with their state-dict names, in <c>named_parameters()</c> order.</param>
public sealed record OptimizerGroup(double Lr, double WeightDecay, IReadOnlyList<(string Name, Parameter Parameter)> Parameters);

/// <summary>
/// The optimiser's parameter groups (reference §3, the authors' <c>LMMTrainer.create_optimizer</c>):
/// a trainable parameter takes the LR (and optional weight-decay override) of the first
/// <see cref="StageConfig.LrGroups"/> rule whose match is a substring of its name, else the stage's base
/// LR and weight decay; biases and the parameters of LayerNorm modules get no weight decay. LlamaRMSNorm
/// is not an <c>nn.LayerNorm</c>, so RMSNorm weights are decayed, as in the authors' run; timm's
/// LayerNorm2d subclasses <c>nn.LayerNorm</c>, so its parameters are not. Frozen parameters
/// (<c>requires_grad</c> false, see <see cref="FreezeSchedule"/>) are left out.
/// </summary>
public static class ParamGroups
{
    /// <summary>Names of the parameters that never take weight decay: every <c>*.bias</c> and every parameter of a LayerNorm module.</summary>
    public static HashSet<string> NoDecayNames(nn.Module model)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not (LayerNorm or LayerNorm2d)) continue;
            foreach (var (p, _) in module.named_parameters(recurse: false))
                names.Add(name.Length == 0 ? p : $"{name}.{p}");
        }
        foreach (var (name, _) in model.named_parameters())
            if (name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal)) names.Add(name);
        return names;
    }

    /// <summary>The groups of the trainable parameters, in order of first appearance of each (lr, weight decay) pair.</summary>
    public static List<OptimizerGroup> Build(nn.Module model, StageConfig stage)
    {
        var noDecay = NoDecayNames(model);
        var order = new List<(double Lr, double Wd)>();
        var members = new Dictionary<(double Lr, double Wd), List<(string, Parameter)>>();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!p.requires_grad) continue;
            var (lr, wd) = stage.GroupFor(name);
            if (noDecay.Contains(name)) wd = 0.0;
            if (!members.TryGetValue((lr, wd), out var list))
            {
                members[(lr, wd)] = list = new List<(string, Parameter)>();
                order.Add((lr, wd));
            }
            list.Add((name, p));
        }
        return order.Select(k => new OptimizerGroup(k.Lr, k.Wd, members[k])).ToList();
    }

    /// <summary>The AdamW of PyTorch (decoupled decay, bias-corrected moments) over the groups, with the stage's betas and eps.</summary>
    public static optim.Optimizer AdamW(IReadOnlyList<OptimizerGroup> groups, StageConfig stage) =>
        optim.AdamW(groups.Select(g => new AdamW.ParamGroup(g.Parameters.Select(p => p.Parameter), g.Lr, stage.Betas[0], stage.Betas[1],
            stage.Eps, g.WeightDecay)).ToList(), stage.Lr, stage.Betas[0], stage.Betas[1], stage.Eps, stage.WeightDecay);
}
