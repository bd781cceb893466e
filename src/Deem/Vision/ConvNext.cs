using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>Outputs of the ConvNeXt trunk.</summary>
/// <param name="Stages">The 4 raw stage outputs [B, C_i, H/4·2^-i, W/4·2^-i].</param>
/// <param name="Pooled">[B, C_4]: the timm head (avg pool → LayerNorm2d) of the last stage.</param>
public sealed record ConvNextFeatures(Tensor[] Stages, Tensor Pooled);

/// <summary>
/// The ConvNeXt trunk of DEEM's CLIP image encoder (Liu et al. 2022; paper §2; reference §1.2),
/// laid out as timm <c>ConvNeXt</c> with <c>num_classes=0</c> so its state-dict keys equal the
/// open_clip checkpoint's <c>visual.trunk.*</c>: <c>stem.0</c> (4×4 stride-4 conv), <c>stem.1</c>
/// (LayerNorm2d), <c>stages.{i}</c> (<see cref="ConvNextStage"/>), <c>head.norm</c>
/// (<see cref="ConvNextHead"/>). <c>norm_pre</c> is the identity and the classifier is absent.
/// Stochastic-depth rates rise linearly from 0 to <see cref="ConvNextConfig.DropPathRate"/>
/// over all blocks.
/// </summary>
public sealed class ConvNext : nn.Module<Tensor, ConvNextFeatures>
{
    private readonly Sequential stem;
    private readonly Sequential stages;
    private readonly ConvNextHead head;
    private readonly ConvNextConfig config;

    /// <param name="config">Trunk shape.</param>
    /// <param name="generator">Source of the stochastic-depth draws (seedable); global RNG when null. The initial
    /// weights draw from the global generator, as every module built with its default init (seed it first).</param>
    public ConvNext(ConvNextConfig config, Generator? generator = null) : base(nameof(ConvNext))
    {
        config.Validate(nameof(ConvNextConfig));
        this.config = config;
        var dims = config.Dims;
        stem = nn.Sequential(
            ("0", nn.Conv2d(config.InChans, dims[0], config.PatchSize, stride: config.PatchSize, bias: true)),
            ("1", new LayerNorm2d(dims[0], config.NormEps)));

        var rates = DropPathRates(config);
        var list = new List<(string, nn.Module<Tensor, Tensor>)>();
        var prev = dims[0];
        for (var i = 0; i < 4; i++)
        {
            list.Add(($"{i}", new ConvNextStage(prev, dims[i], downsampleInput: i > 0, config.Depths[i], rates[i],
                config.KernelSize, config.MlpRatio, config.LsInitValue, config.NormEps, generator)));
            prev = dims[i];
        }
        stages = nn.Sequential(list);
        head = new ConvNextHead(dims[3], config.NormEps);
        RegisterComponents();
        InitWeights();
    }

    /// <summary>Trunk shape this module was built with.</summary>
    public ConvNextConfig Config => config;

    /// <summary>All blocks, stage by stage (for inspecting or re-seeding stochastic depth).</summary>
    public IEnumerable<ConvNextBlock> Blocks =>
        stages.children().Cast<ConvNextStage>().SelectMany(s => s.Blocks);

    /// <summary>timm's per-block rates: linspace(0, rate, Σ depths) split by stage.</summary>
    public static double[][] DropPathRates(ConvNextConfig config)
    {
        var total = config.Depths.Sum();
        var result = new double[4][];
        var k = 0;
        for (var i = 0; i < 4; i++)
        {
            result[i] = new double[config.Depths[i]];
            for (var j = 0; j < config.Depths[i]; j++, k++)
                result[i][j] = total == 1 ? 0.0 : config.DropPathRate * k / (total - 1);
        }
        return result;
    }

    public override ConvNextFeatures forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        if (x.ndim != 4 || x.shape[1] != config.InChans)
            throw new ArgumentException($"ConvNext: expected images [B, {config.InChans}, H, W], found [{string.Join(", ", x.shape)}]", nameof(x));
        var h = stem.forward(x);                                              // [B, C_1, H/4, W/4]
        var outs = new Tensor[4];
        var i = 0;
        foreach (var stage in stages.children().Cast<ConvNextStage>())
        {
            h = stage.forward(h);                                             // [B, C_i, H/2^(i+2), W/2^(i+2)]
            outs[i++] = h.MoveToOuterDisposeScope();
        }
        var pooled = head.forward(h).MoveToOuterDisposeScope();               // [B, C_4]
        return new ConvNextFeatures(outs, pooled);
    }

    /// <summary>
    /// timm <c>_init_weights</c>: convs and linears ~ truncated N(0, 0.02) in [−2, 2], biases 0.
    /// (TorchSharp 0.107's <c>nn.init.trunc_normal_</c> fills a constant, so PyTorch's inverse-CDF
    /// sampler is written out in <see cref="TruncatedNormal"/>.)
    /// </summary>
    private void InitWeights()
    {
        if (stem.parameters().First().device_type == DeviceType.META)
            return;
        using var noGrad = no_grad();
        foreach (var (_, m) in named_modules())
        {
            if (m is Conv2d conv)
            {
                TruncatedNormal(conv.weight, 0.0, 0.02, -2.0, 2.0);
                if (conv.bias is not null) nn.init.zeros_(conv.bias);
            }
            else if (m is Linear lin)
            {
                TruncatedNormal(lin.weight, 0.0, 0.02, -2.0, 2.0);
                if (lin.bias is not null) nn.init.zeros_(lin.bias);
            }
        }
    }

    /// <summary>
    /// Fills <paramref name="t"/> in place from N(mean, std²) truncated to [a, b], as PyTorch's
    /// <c>trunc_normal_</c>: uniform in [2Φ(α)−1, 2Φ(β)−1], inverse error function, scale, clamp.
    /// Draws from <paramref name="generator"/> (the global generator when null).
    /// </summary>
    public static void TruncatedNormal(Tensor t, double mean, double std, double a, double b, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        double Cdf(double x) => (1.0 + tensor(x / Math.Sqrt(2.0), dtype: ScalarType.Float64, device: CPU).erf().item<double>()) / 2.0;
        var l = Cdf((a - mean) / std);
        var u = Cdf((b - mean) / std);
        t.uniform_(2 * l - 1, 2 * u - 1, generator);
        t.erfinv_();
        t.mul_(std * Math.Sqrt(2.0));
        t.add_(mean);
        t.clamp_(a, b);
    }
}
