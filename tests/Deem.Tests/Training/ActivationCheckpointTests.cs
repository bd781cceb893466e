using Deem.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

public class ActivationCheckpointTests
{
    /// <summary>Two inputs, two outputs: (gelu(W1·x) ⊙ g, W2·x + b).</summary>
    sealed class TwoWay : nn.Module<Tensor, Tensor, (Tensor, Tensor)>
    {
        private readonly Linear fc1;
        private readonly Linear fc2;
        public bool Checkpointing { get; set; }

        public TwoWay(Generator gen) : base(nameof(TwoWay))
        {
            fc1 = nn.Linear(6, 5);
            fc2 = nn.Linear(6, 5);
            RegisterComponents();
            using var _ = no_grad();
            foreach (var p in parameters()) p.normal_(0, 0.5, gen);
        }

        public override (Tensor, Tensor) forward(Tensor x, Tensor gate)
        {
            Tensor[] Body(Tensor?[] t) => [nn.functional.gelu(fc1.forward(t[0]!)) * t[1]!, fc2.forward(t[0]!)];
            var o = ActivationCheckpoint.Applies(Checkpointing) ? ActivationCheckpoint.RunMany(this, Body, x, gate) : Body([x, gate]);
            return (o[0], o[1]);
        }
    }

    [Fact]
    public void GradientsOfInputsAndParametersEqualThePlainOnes()
    {
        var gen = new Generator(3);
        var m = new TwoWay(gen);
        var x = randn([4, 6], generator: gen).requires_grad_(true);
        var g = randn([4, 5], generator: gen).requires_grad_(true);
        var w = randn([4, 5], generator: gen);
        var runs = CheckpointGradients.Both(m, on => m.Checkpointing = on, [x, g], () =>
        {
            var (a, b) = m.forward(x, g);
            return (a * w).sum() + b.pow(2).sum();
        });
        CheckpointGradients.AssertSame(runs, blocks: 1);
    }

    [Fact]
    public void AnUnusedOutputAndAnInputWithoutGradWork()
    {
        var gen = new Generator(4);
        var m = new TwoWay(gen);
        var x = randn([3, 6], generator: gen).requires_grad_(true);
        var g = randn([3, 5], generator: gen);                                  // no grad
        var runs = CheckpointGradients.Both(m, on => m.Checkpointing = on, [x], () => m.forward(x, g).Item1.sum());
        CheckpointGradients.AssertSame(runs, blocks: 1);
    }

    [Fact]
    public void ParametersGetGradientsWhenNoInputRequiresGrad()
    {
        var gen = new Generator(5);
        var m = new TwoWay(gen);
        var x = randn([3, 6], generator: gen);
        var g = randn([3, 5], generator: gen);
        var runs = CheckpointGradients.Both(m, on => m.Checkpointing = on, [], () =>
        {
            var (a, b) = m.forward(x, g);
            return a.sum() + b.sum();
        });
        CheckpointGradients.AssertSame(runs, blocks: 1);
        Assert.NotNull(runs.Checkpointed.ParamGrads["fc1.weight"]);
    }

    [Fact]
    public void WithoutAutogradItIsThePlainForward()
    {
        var gen = new Generator(6);
        var m = new TwoWay(gen) { Checkpointing = true };
        var x = randn([2, 6], generator: gen).requires_grad_(true);
        var g = randn([2, 5], generator: gen);
        using var _ = no_grad();
        var (a, _) = m.forward(x, g);
        Assert.False(a.requires_grad);
        m.Checkpointing = false;
        Assert.Equal(0f, (a - m.forward(x, g).Item1).abs().max().item<float>());
    }

    [Fact]
    public void TheForwardRunsWithoutAutogradAndTheRecomputeWithIt()
    {
        var gen = new Generator(7);
        var lin = nn.Linear(8, 8);
        var x = randn([2, 8], generator: gen).requires_grad_(true);
        var recorded = new List<bool>();
        Tensor Body(Tensor?[] t)
        {
            recorded.Add(is_grad_enabled());
            var h = lin.forward(t[0]!);
            for (int i = 0; i < 5; i++) h = h.sin() * 1.01;
            return h;
        }
        var y = ActivationCheckpoint.Run(lin, Body, x);
        Assert.Equal([false], recorded);
        Assert.True(y.requires_grad);
        y.sum().backward();
        Assert.Equal([false, true], recorded);
        Assert.NotNull(x.grad);
        Assert.NotNull(lin.weight!.grad);
    }
}

[Collection(GlobalTorchStateCollection.Name)]
public class ActivationCheckpointRandomnessTests
{
    /// <summary>A block with dropout and drop-path, in training mode.</summary>
    sealed class Noisy : nn.Module<Tensor, Tensor>
    {
        private readonly Linear fc;
        private readonly Dropout drop;
        private readonly Deem.Vision.DropPath path;
        public bool Checkpointing { get; set; }

        public Noisy(Generator gen, Generator pathGen) : base(nameof(Noisy))
        {
            fc = nn.Linear(16, 16);
            drop = nn.Dropout(0.5);
            path = new Deem.Vision.DropPath(0.5, pathGen);
            RegisterComponents();
            using var _ = no_grad();
            foreach (var p in parameters()) p.normal_(0, 0.5, gen);
        }

        public override Tensor forward(Tensor x)
        {
            Tensor Body(Tensor?[] t) => t[0]! + path.forward(drop.forward(fc.forward(t[0]!)));
            return ActivationCheckpoint.Applies(Checkpointing) ? ActivationCheckpoint.Run(this, Body, x) : Body([x]);
        }
    }

    [Fact]
    public void DropoutAndDropPathReplayTheSameMasksInTheRecompute()
    {
        var gen = new Generator(11);
        var pathGen = new Generator(12);
        var m = new Noisy(gen, pathGen);
        m.train();
        var x = randn([8, 16], generator: gen).requires_grad_(true);
        var w = randn([8, 16], generator: gen);
        var pathStart = pathGen.get_state();
        (CheckpointGradients.Run Run, float NextGlobal, float NextPath) Once(bool on)
        {
            manual_seed(42);
            pathGen.set_state(pathStart);
            m.Checkpointing = on;
            var r = CheckpointGradients.Once(m, [x], () => (m.forward(x) * w).sum());
            return (r, rand(1).item<float>(), rand([1], generator: pathGen).item<float>());
        }
        var plain = Once(false);
        var ckpt = Once(true);
        CheckpointGradients.AssertSame((plain.Run, ckpt.Run), blocks: 1);
        // The recompute leaves both generators where the plain run leaves them.
        Assert.Equal(plain.NextGlobal, ckpt.NextGlobal);
        Assert.Equal(plain.NextPath, ckpt.NextPath);
    }
}
