using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>
/// One ConvNeXt stage as timm <c>ConvNeXtStage</c> (reference §1.2): for stages 1–3 a downsampling
/// layer (<c>downsample.0</c> LayerNorm2d, <c>downsample.1</c> 2×2 stride-2 conv C_{i−1}→C_i),
/// then <c>blocks.{j}</c>. Stage 0 has no downsample (the stem already patchifies) and so no keys.
/// </summary>
public sealed class ConvNextStage : nn.Module<Tensor, Tensor>
{
    private readonly Sequential? downsample;
    private readonly Sequential blocks;

    public ConvNextStage(long inChannels, long outChannels, bool downsampleInput, int depth,
        IReadOnlyList<double> dropPathRates, int kernelSize, int mlpRatio, double lsInitValue,
        double normEps, Generator? generator) : base(nameof(ConvNextStage))
    {
        if (dropPathRates.Count != depth)
            throw new ArgumentException($"expected {depth} drop-path rates, found {dropPathRates.Count}", nameof(dropPathRates));
        if (downsampleInput)
        {
            downsample = nn.Sequential(
                ("0", new LayerNorm2d(inChannels, normEps)),
                ("1", nn.Conv2d(inChannels, outChannels, 2, stride: 2, bias: true)));
        }
        else if (inChannels != outChannels)
        {
            throw new ArgumentException($"a stage without downsample keeps its width: {inChannels} ≠ {outChannels}");
        }
        var list = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (var j = 0; j < depth; j++)
            list.Add(($"{j}", new ConvNextBlock(outChannels, kernelSize, mlpRatio, lsInitValue, normEps, dropPathRates[j], generator)));
        blocks = nn.Sequential(list);
        RegisterComponents();
    }

    /// <summary>The blocks of this stage, in order.</summary>
    public IEnumerable<ConvNextBlock> Blocks => blocks.children().Cast<ConvNextBlock>();

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = downsample is null ? x : downsample.forward(x);               // [B, C_i, H_i, W_i]
        return blocks.forward(y).MoveToOuterDisposeScope();
    }
}
