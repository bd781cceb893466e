using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// HF <c>LlamaForCausalLM</c>: the LLaMA body under <c>model.*</c> plus an untied bias-free
/// <c>lm_head</c> [V, D], so a Vicuna-7B v1.5 state dict loads with its own key names
/// (reference §1.6). DEEM discards this head and uses <see cref="TextHead"/> on the body's output.
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<LlamaModelInput, Tensor>
{
    private readonly LlamaModel model;
    private readonly Linear lm_head;

    public LlamaForCausalLM(LlamaConfig config,
                            Func<int, nn.Module<LlamaCrossAttentionInput, Tensor>?>? crossAttentionFactory = null,
                            Generator? generator = null)
        : base(nameof(LlamaForCausalLM))
    {
        model = new LlamaModel(config, crossAttentionFactory, generator);
        lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
        using (no_grad()) lm_head.weight!.normal_(0.0, config.InitializerRange, generator);
    }

    /// <summary>The decoder body (key prefix <c>model.</c>).</summary>
    public LlamaModel Model => model;

    /// <summary>The LM head weight [V, D] (key <c>lm_head.weight</c>).</summary>
    public Parameter LmHeadWeight => lm_head.weight!;

    /// <summary>Logits [B, L, V] of the new tokens.</summary>
    public override Tensor forward(LlamaModelInput input)
    {
        using var scope = NewDisposeScope();
        var hidden = model.forward(input);                          // [B, L, D]
        return lm_head.forward(hidden).MoveToOuterDisposeScope();   // [B, L, V]
    }
}
