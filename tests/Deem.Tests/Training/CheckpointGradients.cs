using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>
/// Runs one loss twice, once with a module's activation checkpointing off and once on, and compares
/// the loss, the gradients of the given inputs and the gradient of every parameter.
/// </summary>
static class CheckpointGradients
{
    /// <summary>Loss, input gradients and parameter gradients (by name) of one forward+backward.</summary>
    public sealed record Run(double Loss, Tensor?[] InputGrads, Dictionary<string, Tensor?> ParamGrads);

    /// <param name="module">The module whose parameters are compared.</param>
    /// <param name="setCheckpointing">Switches the module's checkpointing.</param>
    /// <param name="inputs">Leaf inputs whose gradients are compared (they must require grad).</param>
    /// <param name="loss">Builds the scalar loss from the inputs.</param>
    public static (Run Plain, Run Checkpointed) Both(nn.Module module, Action<bool> setCheckpointing, Tensor[] inputs, Func<Tensor> loss)
    {
        setCheckpointing(false);
        var plain = Once(module, inputs, loss);
        setCheckpointing(true);
        var ckpt = Once(module, inputs, loss);
        setCheckpointing(false);
        return (plain, ckpt);
    }

    /// <summary>One forward+backward from zeroed gradients.</summary>
    public static Run Once(nn.Module module, Tensor[] inputs, Func<Tensor> loss)
    {
        module.zero_grad();
        foreach (var x in inputs) x.grad?.zero_();
        using (var scope = NewDisposeScope())
        {
            var l = loss();
            l.backward();
            var value = l.item<float>();
            return new Run(value,
                inputs.Select(x => x.grad?.detach().clone().DetachFromDisposeScope()).ToArray(),
                module.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad?.detach().clone().DetachFromDisposeScope()));
        }
    }

    /// <summary>Asserts equal losses and gradients (relative to each gradient's largest magnitude), and that some parameter got one.</summary>
    public static void AssertSame((Run Plain, Run Checkpointed) runs, double rtol = 1e-6)
    {
        var (a, b) = runs;
        Assert.Equal(a.Loss, b.Loss, 1e-6 * Math.Max(1, Math.Abs(a.Loss)));
        for (int i = 0; i < a.InputGrads.Length; i++)
        {
            Assert.True(a.InputGrads[i] is not null, $"input {i} got no gradient without checkpointing");
            Close($"input {i}", a.InputGrads[i]!, b.InputGrads[i], rtol);
        }
        Assert.Contains(a.ParamGrads.Values, g => g is not null);
        foreach (var (name, g) in a.ParamGrads)
        {
            if (g is null) { Assert.True(b.ParamGrads[name] is null, $"{name}: a gradient only with checkpointing"); continue; }
            Close(name, g, b.ParamGrads[name], rtol);
        }
    }

    static void Close(string what, Tensor expected, Tensor? actual, double rtol)
    {
        Assert.True(actual is not null, $"{what}: no gradient with checkpointing");
        var scale = Math.Max(expected.abs().max().item<float>(), 1e-12);
        var diff = (expected - actual!).abs().max().item<float>();
        Assert.True(diff <= rtol * scale, $"{what}: max |Δgrad| {diff:G3} > {rtol:G1} × {scale:G3}");
    }
}
