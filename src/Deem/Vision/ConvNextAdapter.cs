using Deem.Config;
using Deem.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>Outputs of <see cref="ConvNextAdapter"/> (no positional embedding yet).</summary>
/// <param name="Tokens">[B, 1 + (H/16)(W/16), C]: the CLS token then the flattened stage-3 adapted map.</param>
/// <param name="Maps">4 adapted maps [B, C, H/4, W/4] … [B, C, H/32, W/32].</param>
public sealed record ConvNextAdapterOutput(Tensor Tokens, Tensor[] Maps);

/// <summary>
/// DEEM's <c>CLIPVisionConvNextAdapter</c> (reference §1.2; paper §2): runs the open_clip ConvNeXt
/// trunk stage by stage and maps each stage's output with a per-pixel Linear to the common width
/// (<c>adapter_c2</c>…<c>adapter_c5</c>: C_i → C); <c>adapter_cls</c> maps the trunk's pooled head
/// (global average → LayerNorm2d) of the raw last stage to the CLS token. Tokens are CLS followed
/// by the flattened stage-3 (stride-16) adapted map. Expects already-normalised pixels.
/// Keys: <c>adapter_c2..c5.*</c>, <c>adapter_cls.*</c>, <c>visual.trunk.*</c>, <c>visual.head.*</c>;
/// DEEM's <c>post_layernorm</c> is the identity and has none.
/// </summary>
public sealed class ConvNextAdapter : nn.Module<Tensor, ConvNextAdapterOutput>
{
    private readonly Linear adapter_c2;
    private readonly Linear adapter_c3;
    private readonly Linear adapter_c4;
    private readonly Linear adapter_c5;
    private readonly Linear adapter_cls;
    private readonly OpenClipTimmTower visual;

    public ConvNextAdapter(VisionEncoderConfig config, Generator? generator = null) : base(nameof(ConvNextAdapter))
    {
        var dims = config.Trunk.Dims;
        var c = config.EmbedDim;
        adapter_c2 = nn.Linear(dims[0], c);
        adapter_c3 = nn.Linear(dims[1], c);
        adapter_c4 = nn.Linear(dims[2], c);
        adapter_c5 = nn.Linear(dims[3], c);
        adapter_cls = nn.Linear(dims[3], c);
        visual = new OpenClipTimmTower(config, generator);
        RegisterComponents();
    }

    /// <summary>The open_clip tower (<c>visual</c>).</summary>
    public OpenClipTimmTower Visual => visual;

    /// <param name="pixels">[B, 3, H, W] normalised images.</param>
    public override ConvNextAdapterOutput forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var features = visual.Trunk.forward(pixels.AsInputOf(visual.Trunk));       // a frozen trunk may be held low
        Linear[] adapters = [adapter_c2, adapter_c3, adapter_c4, adapter_c5];
        var maps = new Tensor[4];
        for (var i = 0; i < 4; i++)
        {
            var x = features.Stages[i].permute(0, 2, 3, 1);                   // [B, h_i, w_i, C_i]
            maps[i] = adapters[i].forward(x.AsInputOf(adapters[i])).permute(0, 3, 1, 2);   // [B, C, h_i, w_i]
        }
        var cls = adapter_cls.forward(features.Pooled.AsInputOf(adapter_cls));  // [B, C]
        var grid = maps[2].flatten(2).transpose(1, 2);                        // [B, h·w, C]
        var tokens = cat([cls.unsqueeze(1), grid], 1);                        // [B, 1 + h·w, C]
        return new ConvNextAdapterOutput(
            tokens.MoveToOuterDisposeScope(),
            maps.Select(m => m.MoveToOuterDisposeScope()).ToArray());
    }
}
