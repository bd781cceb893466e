using System.Diagnostics;
using Deem.Config;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>Memory bandwidth measured in this process: fp32 GEMV (the kernel a decode step runs) and a plain copy.</summary>
/// <param name="GemvBytesPerSecond">Matrix bytes read per second by y = W·x with W far larger than the caches.</param>
/// <param name="CopyBytesPerSecond">Bytes read + written per second by a large tensor copy.</param>
/// <param name="LinearBytesPerSecond">Weight bytes read per second by <c>F.linear</c> on one row (what nn.Linear runs in a batch-1 decode step).</param>
public sealed record Bandwidth(double GemvBytesPerSecond, double CopyBytesPerSecond, double LinearBytesPerSecond)
{
    /// <summary>Measures both for about <paramref name="seconds"/> each over <paramref name="megabytes"/> MB buffers.</summary>
    public static Bandwidth Measure(int megabytes = 64, double seconds = 1.0)
    {
        using var scope = NewDisposeScope();
        using var gen = new Generator(7);
        long n = (long)Math.Sqrt(megabytes * (1L << 20) / 4.0);
        var w = randn(new[] { n, n }, generator: gen);
        var x = randn(new[] { n }, generator: gen);
        double gemv = Rate(() => w.mv(x).Dispose(), 4.0 * n * n, seconds);
        var row = x.view(1, 1, n);
        double linear = Rate(() => nn.functional.linear(row, w).Dispose(), 4.0 * n * n, seconds);
        var a = randn(new[] { n * n }, generator: gen);
        var b = empty_like(a);
        double copy = Rate(() => b.copy_(a), 2 * 4.0 * n * n, seconds);
        return new Bandwidth(gemv, copy, linear);
    }

    static double Rate(Action op, double bytes, double seconds)
    {
        op();
        var sw = Stopwatch.StartNew();
        long iters = 0;
        while (sw.Elapsed.TotalSeconds < seconds) { op(); iters++; }
        return bytes * iters / sw.Elapsed.TotalSeconds;
    }
}

/// <summary>
/// One decode measurement against its memory roofline: a decode step must read every weight of the
/// LLM body and text head once (and the KV cache), whatever the batch, so tokens/s ≤ batch ·
/// bandwidth / bytes per step.
/// </summary>
/// <param name="Preset">Model preset.</param>
/// <param name="Batch">Rows decoded together.</param>
/// <param name="Context">Prompt length before the timed steps.</param>
/// <param name="TokensPerSecond">Decoded tokens per second, all rows together.</param>
/// <param name="WeightBytes">Bytes of the weights one step reads.</param>
/// <param name="CacheBytes">Bytes of the KV cache one step reads (mean over the timed steps).</param>
/// <param name="Bandwidth">GEMV and copy bandwidth measured in the same run.</param>
public sealed record DecodeRoofline(string Preset, int Batch, int Context, double TokensPerSecond, double WeightBytes, double CacheBytes, Bandwidth Bandwidth)
{
    /// <summary>Tokens/s if every step ran at the GEMV bandwidth.</summary>
    public double RooflineTokensPerSecond => Batch * Bandwidth.GemvBytesPerSecond / (WeightBytes + CacheBytes);

    /// <summary>Measured over roofline.</summary>
    public double Fraction => TokensPerSecond / RooflineTokensPerSecond;

    /// <summary>
    /// The weights a text decode step reads: the LLM body (without the token table, of which it reads
    /// only the new rows, and without the MMFS layers, which text-only decoding skips) and the text head.
    /// </summary>
    public static double WeightBytesOf(DeemModel model) =>
        model.named_parameters()
            .Where(p => (p.name.StartsWith("mm_decoder.", StringComparison.Ordinal) || p.name.StartsWith("text_decoder.", StringComparison.Ordinal))
                        && !p.name.Contains("embed_tokens", StringComparison.Ordinal) && !p.name.Contains("llama_cross_attn", StringComparison.Ordinal))
            .Sum(p => (double)p.parameter.numel() * p.parameter.element_size());

    /// <summary>Decodes <paramref name="steps"/> tokens per row after a <paramref name="context"/>-token prompt, <paramref name="batch"/> rows at once.</summary>
    public static DecodeRoofline Measure(DeemConfig config, int batch, int context, int steps, Bandwidth bandwidth)
    {
        using var model = GenerationBenchmark.TextModel(config);
        PlacementPolicy.ApplyForInference(model, Placement.Default);                                   // as every inference verb loads it
        GenerationBenchmark.TokensPerSecond(model, Math.Min(context, 16), 2, useCache: true, batch: batch);   // warm-up
        double tps = GenerationBenchmark.TokensPerSecond(model, context, steps, useCache: true, batch: batch);
        var llm = config.Llm;
        double cache = 2.0 * llm.NumHiddenLayers * batch * (context + steps / 2.0) * llm.KeyValueHeads * llm.HeadDim * 4;
        return new DecodeRoofline(config.Name, batch, context, tps, WeightBytesOf(model), cache, bandwidth);
    }
}
