using Deem.Config;
using TorchSharp;

namespace Deem.Training;

/// <summary>What a stage trains (paper Table 11; reference §1.2, §1.6, §1.7, §1.9, §3).</summary>
/// <param name="FreezeLlm">LLaMA frozen except its MMFS cross-attention (stage 1).</param>
/// <param name="FreezeVfm">ConvNeXt trunk (and its unused open_clip head) frozen; adapters still train.</param>
/// <param name="FreezeDm">SD UNet frozen (DEEM); trainable in the baseline DEEM*.</param>
public sealed record FreezeSchedule(bool FreezeLlm, bool FreezeVfm, bool FreezeDm)
{
    /// <summary>Stage-1 DEEM: LLM and UNet frozen, ConvNeXt trainable (494.9 M trainable at 7B).</summary>
    public static FreezeSchedule DeemStage1 { get; } = new(true, false, true);
    /// <summary>Stage-1 baseline (DEEM*, paper Table 3): ConvNeXt frozen, UNet trainable (1271.0 M at 7B).</summary>
    public static FreezeSchedule BaselineStage1 { get; } = new(true, true, false);
    /// <summary>Stages 2 and 3: the LLM fully trained, ConvNeXt and UNet frozen.</summary>
    public static FreezeSchedule Sft { get; } = new(false, true, true);

    public static FreezeSchedule Of(StageConfig stage) => new(stage.FreezeLlm, stage.FreezeVfm, stage.FreezeDm);

    /// <summary>
    /// Whether the parameter with this DEEM key trains. Always frozen: the VAE, the frozen copy of
    /// Vicuna's LM head (<c>text_decoder.head</c>), and the fixed tables (MMFSNet <c>pos_embed</c> and
    /// <c>ignore_token</c>). Always trained: adapters, perceiver, projections, MMFSNet,
    /// decoder Q-Former, <c>head_new</c>, <c>context_feat_proj</c>, <c>soi_token</c>.
    /// <para>
    /// The LLM's MMFS <c>ignore_token</c>s follow the authors' freeze rule: with the LLM frozen (stage 1)
    /// they switch on every parameter whose name holds <c>llama_cross_attn</c>, so the zero ignore vectors,
    /// built with <c>requires_grad=False</c>, train too (8 × 1024 = 8,192 more at paper scale); in the SFT
    /// stages nothing switches them on and they stay the frozen zeros they were built as.
    /// </para>
    /// </summary>
    public bool IsTrainable(string name)
    {
        if (FreezeLlm && name.StartsWith("mm_decoder.", StringComparison.Ordinal) && name.Contains(".llama_cross_attn.", StringComparison.Ordinal))
            return true;
        if (name.EndsWith(".ignore_token", StringComparison.Ordinal) || name.EndsWith(".pos_embed", StringComparison.Ordinal))
            return false;
        if (name.StartsWith("visual_tokenizer.encoder.vae.", StringComparison.Ordinal)) return false;
        if (name.StartsWith("visual_tokenizer.encoder.unet.", StringComparison.Ordinal)) return !FreezeDm;
        if (name.StartsWith("visual_tokenizer.sniffer.vision_model.", StringComparison.Ordinal))
            return !FreezeVfm || name.StartsWith("visual_tokenizer.sniffer.vision_model.adapter_", StringComparison.Ordinal);
        if (name.StartsWith("text_decoder.head.", StringComparison.Ordinal)) return false;
        if (name.StartsWith("mm_decoder.", StringComparison.Ordinal))
            return !FreezeLlm || name.Contains(".llama_cross_attn.", StringComparison.Ordinal);
        return true;
    }

    /// <summary>Sets <c>requires_grad</c> on every parameter of the model by <see cref="IsTrainable"/>.</summary>
    public void Apply(torch.nn.Module model)
    {
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = IsTrainable(name);
    }
}
