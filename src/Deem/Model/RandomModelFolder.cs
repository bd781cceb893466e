using Deem.Config;
using Deem.Text;
using TorchSharp;

namespace Deem.Model;

/// <summary>
/// A model folder with seeded random weights (a tiny preset and the built-in world tokenizer), so
/// that `deem serve`, `deem chat`, tests and benchmarks can start without training. The same preset
/// and seed always give the same weights. Paper-scale presets are refused: random 7B weights are
/// tens of gigabytes of noise.
/// </summary>
public static class RandomModelFolder
{
    /// <summary>Writes <see cref="DeemCheckpoint"/> files for <paramref name="preset"/> with weights drawn from <paramref name="seed"/>.</summary>
    /// <param name="folder">Created when missing; its model files are replaced.</param>
    /// <param name="preset">A tiny preset name (tiny, tiny-llava).</param>
    /// <param name="seed">Seed of every weight.</param>
    /// <param name="tokenizer">The model's tokenizer (it sizes the vocabulary); saved in the folder.</param>
    public static DeemConfig Write(string folder, string preset, ulong seed, ITextTokenizer tokenizer)
    {
        var config = DeemConfig.Preset(preset, tokenizer.Specials);
        if (!config.Name.StartsWith("tiny", StringComparison.Ordinal))
            throw new DeemConfigException("--preset", "preset", $"--save writes random weights for the tiny presets only, found '{preset}'");
        using var generator = new torch.Generator(seed);
        using var model = new DeemModel(config, generator);
        DeemCheckpoint.Save(folder, model, tokenizer, new Dictionary<string, string> { ["weights"] = $"random, seed {seed}" });
        return config;
    }
}
