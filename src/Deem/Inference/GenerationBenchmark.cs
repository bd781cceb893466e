using System.Diagnostics;
using Deem.Config;
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
    /// <summary>The tiny DEEM with a bigger LLM for CPU measurements: 8 layers × 512 wide, 8 heads, FFN 1376, text only.</summary>
    public static DeemConfig CpuMedium
    {
        get
        {
            var tiny = DeemConfig.TinyFor(SpecialTokens.Tiny);
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

    /// <summary>Times <paramref name="steps"/> decode steps after a random prompt of <paramref name="context"/> tokens.</summary>
    public static double TokensPerSecond(DeemModel model, int context, int steps, bool useCache, ulong seed = 0)
    {
        var t = model.Tokens;
        using var gen = new Generator(seed);
        var words = randint(7, t.BaseVocabSize, new long[] { context - 1 }, generator: gen).data<long>().ToArray();
        var prompt = new InterleavedPrompt([t.Bos, .. words]);
        using var batch = PromptBatch.Create([prompt], t, model.Config.ImageTokens);
        model.eval();
        using var session = DecoderSession.Start(model, batch, useCache);
        var next = new long[] { words[^1] };
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            session.Append(next);
            next = LogitsProcessing.Greedy(session.Logits);
        }
        return steps / sw.Elapsed.TotalSeconds;
    }

    /// <summary>Cached and uncached decode speed of a preset at one context length.</summary>
    public static DecodeSpeed Decode(DeemConfig config, int context, int cachedSteps, int uncachedSteps)
    {
        using var model = TextModel(config);
        TokensPerSecond(model, Math.Min(context, 16), 2, useCache: true);   // warm-up
        var cached = TokensPerSecond(model, context, cachedSteps, useCache: true);
        var uncached = TokensPerSecond(model, context, uncachedSteps, useCache: false);
        return new DecodeSpeed(config.Name, context, cached, uncached);
    }

    /// <summary>Images per second of the tiny DEEM: condition from a short prompt, DDIM with CFG, VAE decode.</summary>
    public static double ImagesPerSecond(DeemConfig config, int steps, int images)
    {
        using var model = new DeemModel(config, new Generator(0));
        var generator = new ImageGenerator(model);
        var t = model.Tokens;
        var prompt = new InterleavedPrompt([t.Bos, 10, 11, 12, 13, t.Soi]);
        var options = new ImageGenerationOptions(Steps: steps, Scheduler: "ddim", GuidanceScale: 3.5);
        generator.Generate([prompt], options with { Steps = 2 }).Dispose();   // warm-up
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < images; i++)
            generator.Generate([prompt], options with { Seed = (ulong)i }).Dispose();
        return images / sw.Elapsed.TotalSeconds;
    }
}
