using Deem.World;
using Deem.Config;
using Deem.Inference;
using Deem.Language;
using Deem.Model;
using Deem.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Inference;

/// <summary>Tiny random-weight models and prompts for the inference tests.</summary>
static class InferenceFixtures
{
    /// <summary>A tiny text-side model (no diffusion unless asked) with the MMFS gates opened so images matter.</summary>
    public static DeemModel Model(ulong seed, bool diffusion = false, bool maskAlign = false, DeemConfig? config = null)
    {
        var c = (config ?? WorldPresets.Tiny) with { BuildDiffusion = diffusion, MaskAlign = maskAlign };
        var model = new DeemModel(c, new Generator(seed));
        OpenGates(model);
        model.eval();
        return model;
    }

    /// <summary>Sets every LLM cross-attention gate to 1 (they start at 0, which would hide the images).</summary>
    public static void OpenGates(DeemModel model)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in model.named_parameters())
            if (name.StartsWith("mm_decoder.") && name.EndsWith("llama_cross_attn.gate")) p.fill_(1.0);
    }

    /// <summary>bos, words, and per image soi + Nq placeholders followed by more words.</summary>
    public static InterleavedPrompt Prompt(DeemModel model, ulong seed, int leadingWords, int images, int wordsPerImage = 3)
    {
        var t = model.Tokens;
        var g = new Generator(seed);
        long Word() => randint(7, t.BaseVocabSize, new long[] { 1 }, generator: g).item<long>();
        var ids = new List<long> { t.Bos };
        for (int i = 0; i < leadingWords; i++) ids.Add(Word());
        for (int k = 0; k < images; k++)
        {
            ids.Add(t.Soi);
            ids.AddRange(Enumerable.Repeat((long)t.Image, model.Config.ImageTokens));
            for (int i = 0; i < wordsPerImage; i++) ids.Add(Word());
        }
        var r = model.Config.EncoderResolution;
        var pics = images == 0 ? null : rand(new long[] { images, 3, r, r }, generator: g);
        return new InterleavedPrompt(ids, pics);
    }

    /// <summary>A tiny config whose vocabulary fits the world tokenizer (its ids below the six new tokens).</summary>
    public static (DeemConfig Config, WordPieceTextTokenizer Tokenizer) WithTokenizer(DeemConfig? baseConfig = null)
    {
        var tokenizer = WorldTokenizer.Create();
        var tiny = DeemConfig.TinyFor(SpecialTokens.ForTinyWorld(tokenizer.VocabSize));
        return (baseConfig is null ? tiny : baseConfig with { Llm = tiny.Llm, BaseVocabSize = tiny.BaseVocabSize }, tokenizer);
    }

    /// <summary>A fresh temporary folder.</summary>
    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "deem-inference-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
