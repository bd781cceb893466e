using Deem.Config;
using Deem.Distributed;
using Deem.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Tests.Distributed;

/// <summary>ZeRO-1's flat-range AdamW on one rank is TorchSharp's AdamW: groups with their own lr and decay, clipping, and a parameter without gradient skipped.</summary>
public class ZeroAdamWTests
{
    static StageConfig Stage => TrainingSetup.StageConfigFor("tiny", 1) with { Betas = [0.9, 0.995], Eps = 1e-6 };

    static (List<OptimizerGroup> Groups, List<Parameter> All) Parameters(long seed)
    {
        using var g = new Generator((ulong)seed);
        Parameter P(params long[] shape) => new(randn(shape, generator: g));
        var all = new List<Parameter> { P(4, 3), P(5), P(2, 2, 3), P(7) };
        var groups = new List<OptimizerGroup>
        {
            new(1e-2, 0.05, [("a.weight", all[0]), ("a.bias", all[1])]),
            new(3e-3, 0.0, [("b.weight", all[2]), ("c.unused", all[3])]),
        };
        return (groups, all);
    }

    static void Gradients(List<Parameter> ps, int step)
    {
        using var g = new Generator((ulong)(100 + step));
        for (int i = 0; i < ps.Count - 1; i++) ps[i].grad = randn(ps[i].shape, generator: g) * (step + 1);   // c.unused: no gradient
        ps[^1].grad = null;
    }

    [Theory]
    [InlineData(25_000_000)]
    [InlineData(5)]              // buckets that split parameters
    public void MatchesTorchSharpAdamWWithGroupsAndClipping(long bucketElements)
    {
        var (refGroups, refParams) = Parameters(1);
        var (zeroGroups, zeroParams) = Parameters(1);
        using var adamw = ParamGroups.AdamW(refGroups, Stage);
        using var zero = new ZeroAdamW(zeroGroups, Stage, SingleProcessCollectives.Instance, bucketElements);
        const double maxNorm = 1.0;
        for (int step = 0; step < 4; step++)
        {
            double multiplier = 0.5 + 0.25 * step;
            foreach (var (controller, group) in adamw.ParamGroups.Zip(refGroups)) controller.LearningRate = group.Lr * multiplier;
            Gradients(refParams, step);
            Gradients(zeroParams, step);
            double refNorm = nn.utils.clip_grad_norm_(refParams.Where(p => p.grad is not null).ToList(), maxNorm);
            adamw.step();
            double norm = zero.Step(multiplier, maxNorm);
            Assert.Equal(refNorm, norm, 1e-4 * refNorm);
            Assert.True(norm > maxNorm, "the test must exercise clipping");
        }
        for (int i = 0; i < refParams.Count; i++)
        {
            double diff = (refParams[i] - zeroParams[i]).abs().max().item<float>();
            Assert.True(diff <= 1e-6, $"parameter {i}: max |Δ| {diff}");
        }
        using var untouched = Parameters(1).All[^1];
        Assert.True(untouched.allclose(zeroParams[^1], rtol: 0, atol: 0), "a parameter without gradient is not stepped (no decay either)");

        var state = zero.GatherState();
        var refState = ((OptimizerHelper)adamw).state_dict().State.Cast<AdamW.State>().ToList();
        var names = refGroups.SelectMany(g => g.Parameters.Select(p => p.Name)).ToList();
        for (int i = 0; i < names.Count; i++)
        {
            Assert.True((state[names[i] + ".exp_avg"] - refState[i].exp_avg).abs().max().item<float>() <= 1e-6, names[i] + ".exp_avg");
            Assert.True((state[names[i] + ".exp_avg_sq"] - refState[i].exp_avg_sq).abs().max().item<float>() <= 1e-6, names[i] + ".exp_avg_sq");
        }
        Assert.Equal(0L, state["c.unused.step"].item<long>());
        Assert.Equal(4L, state["a.weight.step"].item<long>());
        Assert.Equal(refGroups.Sum(g => g.Parameters.Count) * 3, state.Count);
    }

    [Fact]
    public void ShardsCoverTheFlatRangeOnce()
    {
        var (groups, _) = Parameters(2);
        using var zero = new ZeroAdamW(groups, Stage, SingleProcessCollectives.Instance);
        Assert.Equal(12 + 5 + 12 + 7, zero.Total);
        Assert.Equal(zero.Total, zero.ShardSize);
        Assert.Equal(0, zero.ShardStart);
    }
}
