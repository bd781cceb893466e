using Deem.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>
/// Runs one loss twice, once with a module's activation checkpointing off and once on, and compares
/// the loss, the gradients of the given inputs and the gradient of every parameter.
/// </summary>
static class CheckpointGradients
{
    /// <summary>Loss, input gradients, parameter gradients (by name) and recomputed blocks of one forward+backward.</summary>
    public sealed record Run(double Loss, Tensor?[] InputGrads, Dictionary<string, Tensor?> ParamGrads, long Recomputes);

    /// <param name="module">The module whose parameters are compared.</param>
    /// <param name="setCheckpointing">Switches the module's checkpointing.</param>
    /// <param name="inputs">Leaf inputs whose gradients are compared (they must require grad).</param>
    /// <param name="loss">Builds the scalar loss from the inputs.</param>
    /// <param name="beforeEach">Puts the randomness the loss draws in the same state before each run.</param>
    public static (Run Plain, Run Checkpointed) Both(nn.Module module, Action<bool> setCheckpointing, Tensor[] inputs, Func<Tensor> loss,
        Action? beforeEach = null)
    {
        setCheckpointing(false);
        beforeEach?.Invoke();
        var plain = Once(module, inputs, loss);
        setCheckpointing(true);
        beforeEach?.Invoke();
        var ckpt = Once(module, inputs, loss);
        setCheckpointing(false);
        return (plain, ckpt);
    }

    /// <summary>
    /// Adds N(0, scale²) from <paramref name="generator"/> to every parameter, so zero-initialised
    /// gates and residual convs do not hide the gradients of what lies behind them.
    /// </summary>
    public static void Perturb(nn.Module module, Generator generator, double scale = 0.1)
    {
        using var _ = no_grad();
        foreach (var p in module.parameters())
            if (p.is_floating_point()) p.add_(randn(p.shape, generator: generator) * scale);
    }

    /// <summary>One forward+backward from zeroed gradients.</summary>
    public static Run Once(nn.Module module, Tensor[] inputs, Func<Tensor> loss)
    {
        module.zero_grad();
        foreach (var x in inputs) x.grad?.zero_();
        long before = ActivationCheckpoint.RecomputesOnThisThread;
        using (var scope = NewDisposeScope())
        {
            var l = loss();
            l.backward();
            var value = l.to(ScalarType.Float64).item<double>();
            return new Run(value,
                inputs.Select(x => x.grad?.detach().clone().DetachFromDisposeScope()).ToArray(),
                module.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad?.detach().clone().DetachFromDisposeScope()),
                ActivationCheckpoint.RecomputesOnThisThread - before);
        }
    }

    /// <summary>
    /// Asserts that the checkpointed run recomputed <paramref name="blocks"/> blocks and the plain one none, equal
    /// losses and gradients (relative to each gradient's largest magnitude), and that some parameter got one when they train.
    /// </summary>
    public static void AssertSame((Run Plain, Run Checkpointed) runs, int blocks, bool parametersTrain = true, double rtol = 1e-6)
    {
        var (a, b) = runs;
        Assert.Equal((0L, (long)blocks), (a.Recomputes, b.Recomputes));
        Assert.Equal(a.Loss, b.Loss, 1e-6 * Math.Max(1, Math.Abs(a.Loss)));
        for (int i = 0; i < a.InputGrads.Length; i++)
        {
            Assert.True(a.InputGrads[i] is not null, $"input {i} got no gradient without checkpointing");
            Close($"input {i}", a.InputGrads[i]!, b.InputGrads[i], rtol);
        }
        if (parametersTrain) Assert.Contains(a.ParamGrads.Values, g => g is not null);
        foreach (var (name, g) in a.ParamGrads)
        {
            if (g is null) { Assert.True(b.ParamGrads[name] is null, $"{name}: a gradient only with checkpointing"); continue; }
            Close(name, g, b.ParamGrads[name], rtol);
        }
    }

    static void Close(string what, Tensor expected, Tensor? actual, double rtol)
    {
        Assert.True(actual is not null, $"{what}: no gradient with checkpointing");
        var scale = Math.Max(expected.abs().max().to(ScalarType.Float64).item<double>(), 1e-12);
        var diff = (expected - actual!).abs().max().to(ScalarType.Float64).item<double>();
        Assert.True(diff <= rtol * scale, $"{what}: max |Δgrad| {diff:G3} > {rtol:G1} × {scale:G3}");
    }
}
