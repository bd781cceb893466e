using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>
/// open_clip's <c>TimmModel</c> image tower (key prefix <c>visual.</c> in an open_clip checkpoint):
/// <c>trunk</c> (the timm <see cref="ConvNext"/>) and <c>head</c> (<see cref="OpenClipProjectionHead"/>).
/// DEEM only runs the trunk stage by stage (reference §1.2); the head is built so the keys and the
/// parameter count match the authors' checkpoint, and is never called.
/// </summary>
public sealed class OpenClipTimmTower : nn.Module
{
    private readonly ConvNext trunk;
    private readonly OpenClipProjectionHead? head;

    public OpenClipTimmTower(VisionEncoderConfig config, Generator? generator = null) : base(nameof(OpenClipTimmTower))
    {
        trunk = new ConvNext(config.Trunk, generator);
        if (config.ProjHead != "")
            head = new OpenClipProjectionHead(config.Trunk.NumFeatures, config.ClipEmbedDim, config.ProjHead);
        RegisterComponents();
    }

    /// <summary>The ConvNeXt trunk (<c>visual.trunk</c>).</summary>
    public ConvNext Trunk => trunk;

    /// <summary>The open_clip projection (<c>visual.head</c>), or null when none is built.</summary>
    public OpenClipProjectionHead? Head => head;
}

/// <summary>
/// open_clip's projection after a timm trunk (<c>visual.head</c>): <c>"linear"</c> → <c>proj</c>
/// (Linear C→E, no bias; the released checkpoint has this one), <c>"mlp"</c> → <c>mlp.fc1</c>
/// (C→2E, bias) → GELU → <c>mlp.fc2</c> (2E→E, no bias) (what DEEM's code builds, so the checkpoint's
/// linear weights are not loaded into it). Unused by DEEM (reference §1.2, §1.11: 2,131,200 params).
/// </summary>
public sealed class OpenClipProjectionHead : nn.Module<Tensor, Tensor>
{
    private readonly Linear? proj;
    private readonly OpenClipMlp? mlp;

    public OpenClipProjectionHead(long inFeatures, long embedDim, string kind) : base(nameof(OpenClipProjectionHead))
    {
        switch (kind)
        {
            case "linear": proj = nn.Linear(inFeatures, embedDim, hasBias: false); break;
            case "mlp": mlp = new OpenClipMlp(inFeatures, 2 * embedDim, embedDim); break;
            default: throw new ArgumentException($"projection kind must be \"linear\" or \"mlp\", found \"{kind}\"", nameof(kind));
        }
        RegisterComponents();
    }

    /// <summary>[B, C] pooled trunk features → [B, E] CLIP embedding.</summary>
    public override Tensor forward(Tensor pooled) =>
        proj is not null ? proj.forward(pooled) : mlp!.forward(pooled);
}

/// <summary>timm <c>Mlp</c> as open_clip's <c>"mlp"</c> head builds it: <c>fc1</c> (bias) → GELU → <c>fc2</c> (no bias).</summary>
public sealed class OpenClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;

    public OpenClipMlp(long inFeatures, long hidden, long outFeatures) : base(nameof(OpenClipMlp))
    {
        fc1 = nn.Linear(inFeatures, hidden, hasBias: true);
        fc2 = nn.Linear(hidden, outFeatures, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(nn.functional.gelu(fc1.forward(x))).MoveToOuterDisposeScope();
    }
}
