using Deem.Config;

namespace Deem.World;

/// <summary>The tiny presets sized to the world's tokenizer (<see cref="WorldTokenizer.Default"/>).</summary>
public static class WorldPresets
{
    /// <summary><see cref="DeemConfig.TinyFor"/> with the world's vocabulary and bos/eos/pad ids.</summary>
    public static DeemConfig Tiny => DeemConfig.TinyFor(WorldTokenizer.Default.Specials);

    /// <summary>The LLaVA-style tiny variant (paper Table 5) with the world's vocabulary.</summary>
    public static DeemConfig TinyLlava => DeemConfig.TinyLlavaFor(WorldTokenizer.Default.Specials);

    /// <summary><see cref="DeemConfig.Preset"/> with the world's tokenizer for the tiny presets.</summary>
    public static DeemConfig Preset(string name) => DeemConfig.Preset(name, WorldTokenizer.Default.Specials);
}
