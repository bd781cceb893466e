using Deem.Config;
using Deem.Diagnostics;
using Deem.Diffusion;
using Deem.Perceiver;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>Images (and optional region masks) for the visual tokenizer.</summary>
/// <param name="Images">[I, 3, H, W] in [0, 1] at the encoder resolution.</param>
/// <param name="RegionMasks">[I, 1, H, W] region masks (stage 3), or null for whole images.</param>
public sealed record VisualTokenizerInput(Tensor Images, Tensor? RegionMasks = null);

/// <summary>Outputs of the visual tokenizer for I images.</summary>
/// <param name="VisEmbed">[I, Nq, Dq]: the visual Q-Former's output, before the two projections.</param>
/// <param name="TextTokens">[I, Nq, D_llm]: proj_t(perceiver(encoder)), the rows that replace the image placeholders.</param>
/// <param name="DiffusionCond">[I, Nq, D_cond]: proj_i(perceiver(encoder)), CSR's condition (Eq. 5).</param>
/// <param name="Maps">4 maps [I, C, H/4…H/32, W/4…W/32] with position table, region-gated in mask mode (MMFS inputs).</param>
/// <param name="EncoderTokens">[I, 1+hw, C]: the encoder's CLS + stage-3 tokens (what a LLaVA-style projector reads).</param>
public sealed record VisualTokenizerOutput(Tensor VisEmbed, Tensor TextTokens, Tensor DiffusionCond, Tensor[] Maps, Tensor EncoderTokens);

/// <summary>
/// DEEM's visual tokenizer (paper §2.1, the image encoder E_V and perceiver; reference §1.3):
/// ConvNeXt + adapters ("sniffer") → pos_proj/pos_ln (+ sin-cos) → region gating → post_ln →
/// [mask tokens] → visual Q-Former → proj_t / proj_i. It also owns the diffusion model
/// (<c>encoder</c>, as in the authors' checkpoint), which CSR and NIP both use, and in stage 3 the
/// mask-aware extractor (<c>feature_extractor</c>). Keys: <c>sniffer.*</c>, <c>pos_proj</c>,
/// <c>pos_ln</c>, <c>post_ln</c>, <c>perceiver_resampler.*</c>, <c>proj_t</c>, <c>proj_i</c>,
/// <c>feature_extractor.*</c>, <c>encoder.{vae,unet,mmfs_module}.*</c>.
/// </summary>
public sealed class VisualTokenizer : nn.Module<VisualTokenizerInput, VisualTokenizerOutput>
{
    readonly ImageEncoder sniffer;
    // The head's parts are registered one by one directly under visual_tokenizer (the authors'
    // layout). The head itself is held through a non-module reference so that TorchSharp's
    // field-based registration does not add a second copy of them under "head.".
    readonly HeadReference headRef;
    readonly MaskPooling? feature_extractor;
    readonly StableDiffusion? encoder;

    public VisualTokenizer(DeemConfig config, Generator? generator = null) : base(nameof(VisualTokenizer))
    {
        sniffer = new ImageEncoder(config.Vision, generator);
        // proj_i maps to the UNet condition width in every stage (also stage 3, which has no UNet),
        // so a stage-3 model loads the stage-1/2 proj_i unchanged.
        var head = new VisualTokenizerHead(config.Perceiver, config.Llm.HiddenSize, config.UNet.CrossAttentionDim, generator);
        headRef = new HeadReference(head);
        if (config.MaskAlign) feature_extractor = new MaskPooling(config.Vision);
        if (config.BuildDiffusion) encoder = new StableDiffusion(config, generator);

        register_module("sniffer", sniffer);
        foreach (var (name, module) in head.NamedParts()) register_module(name, module);
        if (feature_extractor is not null) register_module("feature_extractor", feature_extractor);
        if (encoder is not null) register_module("encoder", encoder);
    }

    public ImageEncoder Sniffer => sniffer;
    public VisualTokenizerHead Head => headRef.Head;
    public MaskPooling? FeatureExtractor => feature_extractor;
    /// <summary>The diffusion model (null when built without one, e.g. stage 3).</summary>
    public StableDiffusion? Diffusion => encoder;

    sealed record HeadReference(VisualTokenizerHead Head);

    public override VisualTokenizerOutput forward(VisualTokenizerInput input)
    {
        using var scope = NewDisposeScope();
        var encoderSection = StepProfiler.Time(StepProfiler.Encoder);
        var enc = sniffer.forward(input.Images);                     // Tokens [I, 1+hw, C], Maps 4×[I, C, h_l, w_l]
        var maps = enc.Maps;
        Tensor? maskTokens = null;
        if (input.RegionMasks is not null)
        {
            // §1.10: the 4 masked averages + shape token come from the (ungated) maps; the maps
            // MMFS reads are gated to the region.
            if (feature_extractor is not null)
                maskTokens = feature_extractor.forward(new MaskPoolingInput(maps, input.RegionMasks));   // [I, 5, C]
            maps = maps.Select(m => MaskPooling.GateMap(m, input.RegionMasks)).ToArray();
        }
        encoderSection.Dispose();
        using var qformerSection = StepProfiler.Time(StepProfiler.QFormer);
        var h = headRef.Head.forward(new VisualTokenizerHeadInput(enc.Tokens, enc.TokenPosEmbed, input.RegionMasks, maskTokens));
        return new VisualTokenizerOutput(h.VisEmbed.MoveToOuterDisposeScope(), h.TextTokens.MoveToOuterDisposeScope(),
            h.DiffusionCond.MoveToOuterDisposeScope(), maps.Select(m => m.MoveToOuterDisposeScope()).ToArray(),
            enc.Tokens.MoveToOuterDisposeScope());
    }
}
