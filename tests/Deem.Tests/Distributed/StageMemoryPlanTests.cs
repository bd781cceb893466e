using Deem.Distributed;

namespace Deem.Tests.Distributed;

public class StageMemoryPlanTests
{
    const double GiB = 1024.0 * 1024 * 1024;

    [Fact]
    public void FrozenWeightsTakeTheDtypeAndTrainableOnesStayFp32WithFp32GradsAndAdamState()
    {
        var llm = new LlmShape(Layers: 2, Hidden: 8, Heads: 2);
        var rows = StageMemoryPlan.Rows(1000, [new StageShape("s", 100, Batch: 3, Tokens: 4)], llm);
        Assert.Equal(["fp32", "bf16", "fp16"], rows.Select(r => r.DType));
        Assert.Equal(4000 / GiB, rows[0].Weights, 12);
        Assert.Equal((900 * 2 + 100 * 4) / GiB, rows[1].Weights, 12);
        Assert.All(rows, r => Assert.Equal(400 / GiB, r.Gradients, 12));
        Assert.All(rows, r => Assert.Equal(800 / GiB, r.Optimizer, 12));
        // 2 layers × s·b·h·(34 + 5·a·s/h) = 2 × 4·3·8·(34 + 5·2·4/8) = 2 × 96 × 39 bytes at 16 bits; twice that in fp32.
        Assert.Equal(2 * 96 * 39 * 2 / GiB, rows[0].Activations, 12);
        Assert.Equal(2 * 96 * 39 / GiB, rows[1].Activations, 12);
        Assert.Equal(rows[1].Weights + rows[1].Gradients + rows[1].Optimizer + rows[1].Activations, rows[1].Total, 12);
    }

    [Fact]
    public void RecomputeKeepsEachLayersInputAndOneLayersActivations()
    {
        var llm = new LlmShape(Layers: 2, Hidden: 8, Heads: 2);
        var plain = StageMemoryPlan.Rows(1000, [new StageShape("s", 100, Batch: 3, Tokens: 4)], llm);
        var recompute = StageMemoryPlan.Rows(1000, [new StageShape("s", 100, Batch: 3, Tokens: 4, Recompute: true)], llm);
        // 2 layers × s·b·h = 2 × 96 elements of 2 bytes (bf16), plus one layer's 96 × 39 bytes.
        Assert.Equal((2 * 96 * 2 + 96 * 39) / GiB, recompute[1].Activations, 12);
        Assert.True(recompute[1].Activations < plain[1].Activations);
        Assert.Equal(plain[1].Weights, recompute[1].Weights);
    }
}
