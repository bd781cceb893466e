using Deem.Config;
using Deem.Language;
using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Tests.Language;

/// <summary>Shared tiny models and sequences for the language tests.</summary>
internal static class LlamaTestData
{
    public static readonly SpecialTokens Tokens = SpecialTokens.Tiny;
    public const long VisionDim = 16;
    public static readonly (long H, long W)[] Shapes = [(2, 2), (1, 1)];   // S = 5

    public static LlamaConfig TinyConfig => LlamaConfig.Tiny with { VocabSize = Tokens.VocabSize };

    public static LlamaForCausalLM TextModel(LlamaConfig? config = null, long seed = 0)
    {
        manual_seed(seed);
        var m = new LlamaForCausalLM(config ?? TinyConfig, generator: new Generator((ulong)seed));
        m.eval();
        return m;
    }

    public static LlamaForCausalLM VisionModel(long seed = 0)
    {
        manual_seed(seed);
        var cfg = TinyConfig;
        var m = new LlamaForCausalLM(cfg, _ => new MeanImageCrossAttention(VisionDim, cfg.HiddenSize), new Generator((ulong)seed));
        m.eval();
        return m;
    }

    /// <summary>A packed row: two documents, three images (Nq = 2 placeholders each).</summary>
    public static long[] PackedRow()
    {
        long bos = Tokens.Bos, soi = Tokens.Soi, img = Tokens.Image, eos = Tokens.Eos;
        // idx:   0    1    2    3   4   5    6    7   8   9    10  11  12   13   14   15
        return [bos, soi, img, img, 10, soi, img, img, 11, eos, bos, 12, soi, img, img, 13];
    }

    public static Tensor Random(long seed, params long[] shape)
    {
        var g = new Generator((ulong)seed);
        return randn(shape, generator: g);
    }

    public static Tensor RandomIds(long seed, long B, long L, long low = 3, long high = 200) =>
        randint(low, high, [B, L], generator: new Generator((ulong)seed), dtype: ScalarType.Int64);
}
