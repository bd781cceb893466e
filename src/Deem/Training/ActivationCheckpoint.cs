using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Deem.Training;

/// <summary>
/// Activation checkpointing (recompute in backward), the <c>torch.utils.checkpoint</c> the authors
/// switch on for the LLaMA layers, both Q-Formers, the UNet and the MMFSNet blocks (reference §3).
/// <see cref="Run"/> calls a block's forward under <c>no_grad</c> and keeps only its inputs; when the
/// backward pass reaches the block's outputs it runs the forward again with grad enabled on detached
/// copies of the inputs, back-propagates the incoming gradients through that recomputed graph (the
/// block's parameter gradients accumulate there) and hands the input gradients on.
/// <para>
/// Rules for <c>forward</c>: it reads tensors only through its argument (captured tensors may be
/// disposed before the backward pass; non-tensor values may be captured); the argument holds the
/// inputs in the order given, null where a null was given. Randomness replays exactly: the global CPU
/// generator and the generator of every <see cref="DropPath"/> in the block are saved before the forward
/// and restored around the recompute (and restored to their state afterwards); on a CUDA device the
/// CUDA generator, which TorchSharp cannot read, is reseeded with the same seed for both passes.
/// </para>
/// </summary>
public static class ActivationCheckpoint
{
    [ThreadStatic] static long _recomputes;

    /// <summary>Recomputes the backward passes of this thread have run so far (diagnostics: benchmarks and tests).</summary>
    public static long RecomputesOnThisThread => _recomputes;

    /// <summary>Whether a block marked for checkpointing is checkpointed now: only when autograd records.</summary>
    public static bool Applies(bool enabled) => enabled && is_grad_enabled();

    /// <summary>Runs <paramref name="forward"/>(<paramref name="inputs"/>) as a checkpointed block with one output.</summary>
    /// <param name="block">The module whose parameters the forward uses (its trainable parameters get gradients).</param>
    /// <param name="forward">The block's forward, reading tensors only from its argument.</param>
    /// <param name="inputs">The tensors the forward reads; null entries stay null.</param>
    public static Tensor Run(nn.Module block, Func<Tensor?[], Tensor> forward, params Tensor?[] inputs) =>
        RunMany(block, x => [forward(x)], inputs)[0];

    /// <summary>Runs <paramref name="forward"/>(<paramref name="inputs"/>) as a checkpointed block with several outputs.</summary>
    /// <param name="block">The module whose parameters the forward uses (its trainable parameters get gradients).</param>
    /// <param name="forward">The block's forward, reading tensors only from its argument; its outputs must be distinct tensors.</param>
    /// <param name="inputs">The tensors the forward reads; null entries stay null.</param>
    public static Tensor[] RunMany(nn.Module block, Func<Tensor?[], Tensor[]> forward, params Tensor?[] inputs)
    {
        if (!is_grad_enabled()) return forward(inputs);
        bool inputsNeedGrad = inputs.Any(t => t is not null && t.requires_grad);
        bool paramsNeedGrad = block.parameters().Any(p => p.requires_grad);
        if (!inputsNeedGrad && !paramsNeedGrad)
            using (no_grad()) return forward(inputs);
        // With no input on the tape the node would not be recorded and the parameters would get no
        // gradient: a one-element leaf that requires grad ties it in (its gradient is dropped).
        var anchor = inputsNeedGrad ? null : zeros(1, device: inputs.FirstOrDefault(t => t is not null)?.device);
        anchor?.requires_grad_(true);
        var call = new BlockCall(block, forward, inputs.Select(t => t is not null && t.requires_grad).ToArray());
        var args = new object?[inputs.Length + 2];
        args[0] = call;
        args[1] = anchor;
        inputs.CopyTo(args, 2);
        return Recompute.apply(args!).ToArray();
    }

    /// <summary>What the backward pass needs besides the saved inputs.</summary>
    sealed class BlockCall(nn.Module block, Func<Tensor?[], Tensor[]> forward, bool[] needsGrad)
    {
        public nn.Module Block { get; } = block;
        public Func<Tensor?[], Tensor[]> Forward { get; } = forward;
        public bool[] NeedsGrad { get; } = needsGrad;
        public RandomState? Rng { get; set; }
    }

    /// <summary>
    /// The custom autograd function: arguments are (call, anchor or null, inputs...). Gradients are
    /// returned for the same positions: none for the call and the anchor.
    /// </summary>
    sealed class Recompute : MultiTensorFunction<Recompute>
    {
        public override string Name => "ActivationCheckpoint";

        public override List<Tensor> forward(AutogradContext ctx, params object[] vars)
        {
            var call = (BlockCall)vars[0];
            var inputs = vars.Skip(2).Select(v => v as Tensor).ToArray();
            ctx.save_data("call", call);
            ctx.set_materialize_grads(false);                     // an unused output sends no gradient, not zeros
            ctx.save_for_backward(inputs.ToList()!);
            call.Rng = RandomState.Capture(call.Block, inputs);
            return call.Forward(inputs).ToList();                 // autograd is off here (Function.apply)
        }

        public override List<Tensor> backward(AutogradContext ctx, List<Tensor> grad_outputs)
        {
            // An exception cannot cross the native autograd engine that calls this: fail loudly instead.
            try { return Backward(ctx, grad_outputs); }
            catch (Exception e)
            {
                Environment.FailFast($"activation checkpoint: the recompute in the backward pass failed: {e.GetType().Name}: {e.Message}", e);
                throw;
            }
        }

        static List<Tensor> Backward(AutogradContext ctx, List<Tensor> gradOutputs)
        {
            using var scope = NewDisposeScope();
            var call = (BlockCall)ctx.get_data("call");
            var saved = ctx.get_saved_variables();
            var inputs = new Tensor?[saved.Count];
            for (int i = 0; i < saved.Count; i++)
                inputs[i] = saved[i] is null ? null : saved[i].detach().requires_grad_(call.NeedsGrad[i]);
            _recomputes++;
            Tensor[] outputs;
            using (call.Rng!.Replay())
            using (enable_grad())
                outputs = call.Forward(inputs);
            var (roots, grads) = (new List<Tensor>(), new List<Tensor>());
            for (int i = 0; i < outputs.Length; i++)
                if (outputs[i].requires_grad && gradOutputs[i] is not null && !gradOutputs[i].IsInvalid)
                    (roots, grads) = (roots.Append(outputs[i]).ToList(), grads.Append(gradOutputs[i]).ToList());
            if (roots.Count > 0)
                torch.autograd.backward(roots, grads);            // parameter gradients accumulate here

            var result = new List<Tensor> { null!, null! };       // the call and the anchor
            for (int i = 0; i < inputs.Length; i++)
                // The engine copies the returned tensors; they must outlive this scope until it has.
                result.Add(call.NeedsGrad[i] ? inputs[i]!.grad?.MoveToOuterDisposeScope()! : null!);
            return result;
        }
    }

    /// <summary>The random generators a block may draw from, saved before its forward.</summary>
    sealed class RandomState
    {
        readonly List<(Generator Generator, Tensor State)> _saved = new();
        long? _cudaSeed;

        public static RandomState Capture(nn.Module block, Tensor?[] inputs)
        {
            var r = new RandomState();
            // The states outlive the forward's dispose scope: they are held until the node is freed.
            r._saved.Add((Generator.Default, Generator.Default.get_state().DetachFromDisposeScope()));
            foreach (var m in block.modules())
                if (m is DropPath { Generator: { } g })
                    r._saved.Add((g, g.get_state().DetachFromDisposeScope()));
            if (inputs.FirstOrDefault(t => t is not null && t.device_type == DeviceType.CUDA) is not null)
            {
                // Drawn from the CPU generator after its state was saved, so the replay draws it again.
                r._cudaSeed = randint(long.MaxValue, [1], dtype: ScalarType.Int64).item<long>();
                torch.cuda.manual_seed(r._cudaSeed.Value);
            }
            return r;
        }

        /// <summary>Puts the saved states in place until disposed, then restores the current ones.</summary>
        public IDisposable Replay()
        {
            var current = _saved.Select(s => (s.Generator, s.Generator.get_state())).ToList();
            foreach (var (g, state) in _saved) g.set_state(state);
            if (_cudaSeed is { } seed)
            {
                randint(long.MaxValue, [1], dtype: ScalarType.Int64).Dispose();  // the draw the forward made
                torch.cuda.manual_seed(seed);
            }
            return new Restore(current);
        }

        sealed class Restore(List<(Generator Generator, Tensor State)> states) : IDisposable
        {
            public void Dispose()
            {
                foreach (var (g, state) in states) { g.set_state(state); state.Dispose(); }
            }
        }
    }
}
