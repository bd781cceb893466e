using System.Diagnostics;
using Deem.Config;
using Deem.Diagnostics;
using Deem.Model;
using Deem.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>One decode-speed measurement.</summary>
/// <param name="Preset">Model preset.</param>
/// <param name="Context">Prompt length before decoding.</param>
/// <param name="CachedTokensPerSecond">Decode steps per second with the KV cache (one row).</param>
/// <param name="UncachedTokensPerSecond">The same without the cache (whole prefix recomputed every step).</param>
public sealed record DecodeSpeed(string Preset, int Context, double CachedTokensPerSecond, double UncachedTokensPerSecond)
{
    /// <summary>How many times faster the cache decodes.</summary>
    public double Ratio => CachedTokensPerSecond / UncachedTokensPerSecond;
}

/// <summary>
/// Speed of generation on the CPU, random weights (speed does not depend on them): decode tokens/s with
/// and without the KV cache after a prompt of a given length (the prompt's prefill is not timed), and
/// images/s of DDIM generation with CFG. The presets are the tiny DEEM and <see cref="CpuMedium"/>.
/// </summary>
public static class GenerationBenchmark
{
    /// <summary>The tiny preset with a 256-id vocabulary (<see cref="SpecialTokens.Tiny"/>): random weights, so any vocabulary of that size measures the same.</summary>
    public static DeemConfig Tiny => DeemConfig.TinyFor(SpecialTokens.Tiny);

    /// <summary>The tiny DEEM with a bigger LLM for CPU measurements: 8 layers × 512 wide, 8 heads, FFN 1376, text only.</summary>
    public static DeemConfig CpuMedium
    {
        get
        {
            var tiny = Tiny;
            return tiny with
            {
                Name = "cpu-8x512",
                Llm = tiny.Llm with { HiddenSize = 512, IntermediateSize = 1376, NumHiddenLayers = 8, NumAttentionHeads = 8, NumKeyValueHeads = 8 },
                LlmMmfs = tiny.LlmMmfs with { DModel = 512, DQuery = 512, DOut = 512 },
                ImageDecoder = tiny.ImageDecoder with { PerceiverConfig = tiny.ImageDecoder.PerceiverConfig with { EncoderHiddenSize = 512 } },
                BuildDiffusion = false,
            };
        }
    }

    /// <summary>Text-only model of a preset for decode timing.</summary>
    public static DeemModel TextModel(DeemConfig config, ulong seed = 0) => new(config with { BuildDiffusion = false }, new Generator(seed));

    /// <summary>
    /// Decoded tokens per second (all rows together) over <paramref name="steps"/> steps after a random
    /// prompt of <paramref name="context"/> tokens, repeated in <paramref name="batch"/> rows.
    /// </summary>
    public static double TokensPerSecond(DeemModel model, int context, int steps, bool useCache, ulong seed = 0, int batch = 1)
    {
        var t = model.Tokens;
        using var gen = new Generator(seed);
        var words = randint(7, t.BaseVocabSize, new long[] { context - 1 }, generator: gen).data<long>().ToArray();
        var prompt = new InterleavedPrompt([t.Bos, .. words]);
        using var prompts = PromptBatch.Create(Enumerable.Repeat(prompt, batch).ToList(), t, model.Config.ImageTokens);
        model.eval();
        using var session = DecoderSession.Start(model, prompts, useCache);
        var next = Enumerable.Repeat(words[^1], batch).ToArray();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            session.Append(next);
            next = LogitsProcessing.Greedy(session.Logits);
        }
        return (double)steps * batch / sw.Elapsed.TotalSeconds;
    }

    /// <summary>Cached and uncached decode speed of a preset at one context length, on <paramref name="placement"/> (default: CPU fp32).</summary>
    public static DecodeSpeed Decode(DeemConfig config, int context, int cachedSteps, int uncachedSteps, Placement? placement = null)
    {
        using var model = TextModel(config);
        PlacementPolicy.ApplyForInference(model, placement ?? Placement.Default);
        TokensPerSecond(model, Math.Min(context, 16), 2, useCache: true);   // warm-up
        var cached = TokensPerSecond(model, context, cachedSteps, useCache: true);
        var uncached = TokensPerSecond(model, context, uncachedSteps, useCache: false);
        return new DecodeSpeed(config.Name, context, cached, uncached);
    }

    /// <summary>
    /// Everything `deem bench generate` reports, in one run: cached and uncached decode at each context
    /// (batch 1), decode against the memory roofline at batch 1 and 8 (bandwidth measured in the same
    /// run), and DDIM-with-CFG sampling of the tiny DEEM.
    /// </summary>
    public static GenerationBenchmarkResult Run(GenerationBenchmarkOptions o)
    {
        foreach (var config in new[] { Tiny, CpuMedium })
            foreach (var ctx in o.Contexts)
                if (ctx < 2 || ctx + Math.Max(o.DecodeSteps, o.RooflineSteps) > config.Llm.MaxPositionEmbeddings)
                    throw new DeemConfigException("--context", "context",
                        $"{ctx} must be ≥ 2 and leave room for the decode steps within {config.Name}'s max_position_embeddings {config.Llm.MaxPositionEmbeddings}");
        if (o.Threads is < 1) throw new DeemConfigException("--threads", "threads", $"must be ≥ 1, found {o.Threads}");
        if (o.Threads is int threads) set_num_threads(threads);
        var decode = new List<DecodeSpeed>();
        foreach (var config in new[] { Tiny, CpuMedium })
            foreach (var ctx in o.Contexts)
                decode.Add(Decode(config, ctx, o.DecodeSteps, o.UncachedSteps, o.Placement));
        var bandwidth = Bandwidth.Measure();
        var roofline = new List<DecodeRoofline>();
        foreach (var config in new[] { Tiny, CpuMedium })
            foreach (var batch in o.Batches)
                roofline.Add(DecodeRoofline.Measure(config, batch, o.Contexts[0], o.RooflineSteps, bandwidth));
        var bandwidthAfter = Bandwidth.Measure();
        var sampling = ImagesPerSecond(Tiny, o.DdimSteps, o.Images, o.Placement);
        return new GenerationBenchmarkResult(decode, roofline, bandwidth, bandwidthAfter, sampling, get_num_threads());
    }

    /// <summary>
    /// DDIM with CFG on the tiny DEEM: images/s (condition from a short prompt, sampling, VAE decode),
    /// and the UNet's own time, calls and analytic FLOPs during sampling (<see cref="StepProfiler"/>), on
    /// <paramref name="placement"/> (default: CPU fp32).
    /// </summary>
    public static SamplingSpeed ImagesPerSecond(DeemConfig config, int steps, int images, Placement? placement = null)
    {
        using var model = new DeemModel(config, new Generator(0));
        PlacementPolicy.ApplyForInference(model, placement ?? Placement.Default);
        var generator = new ImageGenerator(model);
        var t = model.Tokens;
        var prompt = new InterleavedPrompt([t.Bos, 10, 11, 12, 13, t.Soi]);
        var options = new ImageGenerationOptions(Steps: steps, Scheduler: "ddim", GuidanceScale: 3.5);
        generator.Generate([prompt], options with { Steps = 2 }).Dispose();   // warm-up
        var profiler = new StepProfiler();
        var sw = Stopwatch.StartNew();
        StepProfiler.Start(profiler);
        try
        {
            for (int i = 0; i < images; i++)
                generator.Generate([prompt], options with { Seed = (ulong)i }).Dispose();
        }
        finally { StepProfiler.Stop(); }
        double seconds = sw.Elapsed.TotalSeconds;
        int calls = profiler.Calls.GetValueOrDefault(StepProfiler.UNet);
        // Each guided step is one UNet call over [unconditional; conditional] (batch 2).
        double flopsPerCall = StepFlops.UNetForward(model.Diffusion!.UNet, 2, config.LatentSide, config.ImageTokens);
        return new SamplingSpeed(images / seconds, profiler.Seconds.GetValueOrDefault(StepProfiler.UNet), calls, calls * flopsPerCall, seconds);
    }
}

/// <summary>What `deem bench generate` measures.</summary>
/// <param name="Contexts">Prompt lengths (the first one is also the roofline rows' context).</param>
/// <param name="DecodeSteps">Timed cached decode steps.</param>
/// <param name="UncachedSteps">Timed uncached decode steps.</param>
/// <param name="BatchSizes">Batch sizes of the roofline rows (null: 1 and 8).</param>
/// <param name="RooflineSteps">Timed decode steps of each roofline row.</param>
/// <param name="DdimSteps">DDIM steps per image.</param>
/// <param name="Images">Images timed.</param>
/// <param name="Threads">torch intra-op threads for the run (null: as set).</param>
/// <param name="Placement">Device and dtype of the decode-speed and sampling models (null: CPU fp32); the roofline rows stay on the CPU in fp32.</param>
public sealed record GenerationBenchmarkOptions(IReadOnlyList<int> Contexts, int DecodeSteps = 64, int UncachedSteps = 16,
    IReadOnlyList<int>? BatchSizes = null, int RooflineSteps = 64, int DdimSteps = 50, int Images = 3, int? Threads = null,
    Placement? Placement = null)
{
    public IReadOnlyList<int> Batches => BatchSizes ?? [1, 8];
}

/// <summary>All figures of one `deem bench generate` run.</summary>
/// <param name="Decode">Cached vs uncached decode, batch 1.</param>
/// <param name="Roofline">Decode against the memory roofline.</param>
/// <param name="Bandwidth">Measured before the roofline rows.</param>
/// <param name="BandwidthAfter">Measured after them (the machine is shared: both are shown).</param>
/// <param name="Sampling">DDIM-with-CFG speed.</param>
/// <param name="Threads">torch intra-op threads.</param>
public sealed record GenerationBenchmarkResult(IReadOnlyList<DecodeSpeed> Decode, IReadOnlyList<DecodeRoofline> Roofline, Bandwidth Bandwidth,
    Bandwidth BandwidthAfter, SamplingSpeed Sampling, int Threads);

/// <summary>Image-generation speed.</summary>
/// <param name="ImagesPerSecond">Whole images per second.</param>
/// <param name="UNetSeconds">Time inside the UNet (without MMFSNet) over all images.</param>
/// <param name="UNetCalls">UNet calls over all images.</param>
/// <param name="UNetFlops">Analytic UNet FLOPs over all images.</param>
/// <param name="Seconds">Wall time over all images.</param>
public sealed record SamplingSpeed(double ImagesPerSecond, double UNetSeconds, int UNetCalls, double UNetFlops, double Seconds)
{
    /// <summary>The UNet's FLOP rate while it runs.</summary>
    public double UNetFlopsPerSecond => UNetFlops / UNetSeconds;
}
