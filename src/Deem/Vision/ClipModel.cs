using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>An image–caption batch for <see cref="ClipModel"/>.</summary>
/// <param name="Images">[B, 3, H, W] RGB in [0, 1] (H, W multiples of the trunk stride).</param>
/// <param name="TextIds">[B, L] token ids from <see cref="ClipTextEncoder.Tokenize"/>; row i is image i's caption.</param>
public sealed record ClipInput(Tensor Images, Tensor TextIds);

/// <summary>Outputs of <see cref="ClipModel"/>.</summary>
/// <param name="ImageEmbeds">[B, E] L2-normalised image embeddings.</param>
/// <param name="TextEmbeds">[B, E] L2-normalised text embeddings.</param>
/// <param name="LogitScale">Scalar exp(logit_scale), the inverse temperature.</param>
/// <param name="Loss">Scalar symmetric InfoNCE (<see cref="ClipModel.ContrastiveLoss"/>).</param>
public sealed record ClipOutput(Tensor ImageEmbeds, Tensor TextEmbeds, Tensor LogitScale, Tensor Loss);

/// <summary>
/// open_clip's <c>CLIP</c> with a timm ConvNeXt image tower, the pretrained model DEEM's image encoder
/// starts from (paper §2; reference §1.2; <c>laion/CLIP-convnext_base_w_320…</c> at paper scale).
/// Image: CLIP mean/std → ConvNeXt trunk → pooled head (avg pool + LayerNorm2d) → <c>visual.head.proj</c>
/// (linear, as the released checkpoint). Text: <see cref="ClipTextEncoder"/> with open_clip's top-level
/// keys. Both L2-normalised and compared with the learned inverse temperature exp(<c>logit_scale</c>),
/// initialised to 1/0.07. Keys: <c>visual.trunk.*</c>, <c>visual.head.proj.weight</c>,
/// <c>token_embedding.weight</c>, <c>positional_embedding</c>, <c>transformer.resblocks.*</c>,
/// <c>ln_final.*</c>, <c>text_projection</c>, <c>logit_scale</c>.
/// </summary>
public sealed class ClipModel : nn.Module<ClipInput, ClipOutput>
{
    /// <summary>open_clip's cap on exp(logit_scale) (the parameter is clamped to [0, ln 100] after each step).</summary>
    public static readonly double MaxLogitScale = Math.Log(100.0);

    private readonly OpenClipTimmTower visual;
    private readonly ClipTextEncoder text;
    private readonly Parameter logit_scale;
    private readonly VisionEncoderConfig visionConfig;

    /// <param name="vision">The image encoder config; its trunk is used, with a linear head to <paramref name="text"/>'s <c>EmbedDim</c>.</param>
    /// <param name="text">The text tower; <see cref="ClipTextConfig.EmbedDim"/> is the shared embedding width.</param>
    /// <param name="generator">Random source for the initialisation (null: the global RNG).</param>
    public ClipModel(VisionEncoderConfig vision, ClipTextConfig text, Generator? generator = null) : base(nameof(ClipModel))
    {
        if (text.EmbedDim <= 0)
            throw new DeemConfigException(nameof(ClipTextConfig), "embed_dim", $"a CLIP model needs a projection, found {text.EmbedDim}");
        visionConfig = vision with { ProjHead = "linear", ClipEmbedDim = text.EmbedDim };
        visual = new OpenClipTimmTower(visionConfig, generator);
        this.text = new ClipTextEncoder(text, generator);
        logit_scale = new Parameter(tensor(Math.Log(1.0 / 0.07), ScalarType.Float32));
        // open_clip's CLIP holds the text tower's parts at top level (no "text." prefix).
        register_module("visual", visual);
        foreach (var (name, module) in this.text.TopLevelModules()) register_module(name, module);
        foreach (var (name, p) in this.text.TopLevelParameters()) register_parameter(name, p);
        register_parameter("logit_scale", logit_scale);
    }

    /// <summary>The image tower (<c>visual</c>).</summary>
    public OpenClipTimmTower Visual => visual;

    /// <summary>The text tower (its parameters are this model's top-level text keys).</summary>
    public ClipTextEncoder Text => text;

    /// <summary>The learned log inverse temperature.</summary>
    public Parameter LogitScale => logit_scale;

    /// <summary>The vision config with the open_clip linear head this model was built with.</summary>
    public VisionEncoderConfig VisionConfig => visionConfig;

    /// <summary>[B, E] un-normalised image embedding of [0, 1] pixels.</summary>
    public Tensor EncodeImage(Tensor images)
    {
        using var scope = NewDisposeScope();
        var mean = tensor(ImageEncoder.ClipMean, dtype: images.dtype, device: images.device).reshape(1, 3, 1, 1);
        var std = tensor(ImageEncoder.ClipStd, dtype: images.dtype, device: images.device).reshape(1, 3, 1, 1);
        var x = images.sub(mean).div(std);                                                        // [B, 3, H, W]
        var pooled = visual.Trunk.forward(x).Pooled;                                               // [B, C4]
        return visual.Head!.forward(pooled).MoveToOuterDisposeScope();                             // [B, E]
    }

    /// <summary>[B, E] un-normalised text embedding (pooled EOT state through <c>text_projection</c>).</summary>
    public Tensor EncodeText(Tensor ids)
    {
        using var scope = NewDisposeScope();
        return text.forward(ids).Pooled.MoveToOuterDisposeScope();
    }

    public override ClipOutput forward(ClipInput input)
    {
        using var scope = NewDisposeScope();
        if (input.Images.shape[0] != input.TextIds.shape[0])
            throw new ArgumentException($"ClipModel: {input.Images.shape[0]} images but {input.TextIds.shape[0]} captions");
        var img = nn.functional.normalize(EncodeImage(input.Images), dim: -1);                    // [B, E]
        var txt = nn.functional.normalize(EncodeText(input.TextIds), dim: -1);                    // [B, E]
        var scale = logit_scale.exp();
        var loss = ContrastiveLoss(img, txt, scale);
        return new ClipOutput(img.MoveToOuterDisposeScope(), txt.MoveToOuterDisposeScope(),
            scale.MoveToOuterDisposeScope(), loss.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// CLIP's symmetric InfoNCE (open_clip <c>ClipLoss</c>): logits = s·I·Tᵀ, the matching pair of row i
    /// is column i, loss = ½ [CE(logits, i) + CE(logitsᵀ, i)].
    /// </summary>
    /// <param name="imageEmbeds">[B, E] normalised.</param>
    /// <param name="textEmbeds">[B, E] normalised.</param>
    /// <param name="logitScale">Scalar inverse temperature (already exponentiated).</param>
    public static Tensor ContrastiveLoss(Tensor imageEmbeds, Tensor textEmbeds, Tensor logitScale)
    {
        using var scope = NewDisposeScope();
        var B = imageEmbeds.shape[0];
        var logitsPerImage = logitScale * imageEmbeds.matmul(textEmbeds.t());                      // [B, B]
        var labels = arange(B, dtype: ScalarType.Int64, device: imageEmbeds.device);               // [B]
        var loss = (nn.functional.cross_entropy(logitsPerImage, labels)
                    + nn.functional.cross_entropy(logitsPerImage.t(), labels)) / 2.0;
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>open_clip's post-step clamp of <c>logit_scale</c> to [0, ln 100].</summary>
    public void ClampLogitScale()
    {
        using var noGrad = no_grad();
        logit_scale.clamp_(0.0, MaxLogitScale);
    }
}
