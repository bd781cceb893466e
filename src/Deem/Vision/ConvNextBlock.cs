using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>
/// One ConvNeXt block as timm <c>ConvNeXtBlock</c> (channels-last variant), reference §1.2:
/// depthwise k×k conv → LayerNorm over C (channels-last) → Linear C→rC → GELU → Linear rC→C →
/// per-channel layer scale <c>gamma</c> → stochastic depth → residual add.
/// State-dict keys: <c>conv_dw.*</c>, <c>norm.*</c>, <c>mlp.fc1.*</c>, <c>mlp.fc2.*</c>, <c>gamma</c>.
/// </summary>
public sealed class ConvNextBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_dw;
    private readonly LayerNorm norm;
    private readonly ConvNextMlp mlp;
    private readonly Parameter gamma;
    private readonly DropPath drop_path;
    private readonly long dim;

    public ConvNextBlock(long dim, int kernelSize, int mlpRatio, double lsInitValue, double normEps,
        double dropPath, Generator? generator) : base(nameof(ConvNextBlock))
    {
        this.dim = dim;
        conv_dw = nn.Conv2d(dim, dim, kernelSize, padding: kernelSize / 2, groups: dim, bias: true);
        norm = nn.LayerNorm(dim, normEps);
        mlp = new ConvNextMlp(dim, dim * mlpRatio);
        gamma = nn.Parameter(full(dim, lsInitValue));
        drop_path = new DropPath(dropPath, generator);
        RegisterComponents();
    }

    /// <summary>The stochastic-depth module of this block (rate and generator).</summary>
    public DropPath StochasticDepth => drop_path;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        if (C != dim)
            throw new ArgumentException($"ConvNextBlock: expected x [B, {dim}, H, W], found [{B}, {C}, {H}, {W}]", nameof(x));
        var y = conv_dw.forward(x);                                           // [B, C, H, W]
        y = y.permute(0, 2, 3, 1);                                            // [B, H, W, C]
        y = mlp.forward(norm.forward(y));                                     // [B, H, W, C]
        y = y.permute(0, 3, 1, 2);                                            // [B, C, H, W]
        y = y.mul(gamma.reshape(1, C, 1, 1));                                 // [B, C, H, W]
        return drop_path.forward(y).add(x).MoveToOuterDisposeScope();
    }
}

/// <summary>timm <c>Mlp</c> inside a ConvNeXt block: <c>fc1</c> → GELU (exact erf) → <c>fc2</c>, channels-last.</summary>
public sealed class ConvNextMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;

    public ConvNextMlp(long dim, long hidden) : base(nameof(ConvNextMlp))
    {
        fc1 = nn.Linear(dim, hidden);
        fc2 = nn.Linear(hidden, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.gelu(fc1.forward(x));                           // [..., rC]
        return fc2.forward(h).MoveToOuterDisposeScope();                      // [..., C]
    }
}
