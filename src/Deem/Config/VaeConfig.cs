using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// Configuration of the Stable-Diffusion VAE (diffusers <c>AutoencoderKL</c>, read from a published
/// <c>vae/config.json</c>). DEEM keeps it frozen and encodes images in [−1, 1] to latents
/// z = sample(q(z|x))·<see cref="ScalingFactor"/> for the NIP and CSR losses (reference §1.9, §2.2–2.3).
/// </summary>
public sealed record VaeConfig
{
    public const string DownEncoder = "DownEncoderBlock2D";
    public const string UpDecoder = "UpDecoderBlock2D";

    [JsonPropertyName("in_channels")] public int InChannels { get; init; } = 3;
    [JsonPropertyName("out_channels")] public int OutChannels { get; init; } = 3;
    [JsonPropertyName("down_block_types")] public string[] DownBlockTypes { get; init; } = [DownEncoder];
    [JsonPropertyName("up_block_types")] public string[] UpBlockTypes { get; init; } = [UpDecoder];
    [JsonPropertyName("block_out_channels")] public int[] BlockOutChannels { get; init; } = [64];
    [JsonPropertyName("layers_per_block")] public int LayersPerBlock { get; init; } = 1;
    [JsonPropertyName("act_fn")] public string ActFn { get; init; } = "silu";
    [JsonPropertyName("latent_channels")] public int LatentChannels { get; init; } = 4;
    [JsonPropertyName("norm_num_groups")] public int NormNumGroups { get; init; } = 32;
    [JsonPropertyName("sample_size")] public int SampleSize { get; init; } = 32;

    /// <summary>Latent scale: z fed to the UNet = VAE latent × this (0.18215 for SD-1/2).</summary>
    [JsonPropertyName("scaling_factor")] public double ScalingFactor { get; init; } = 0.18215;

    /// <summary><c>stabilityai/stable-diffusion-2-1-base</c> <c>vae/config.json</c> (83,653,863 parameters).</summary>
    public static VaeConfig Sd21Base => new()
    {
        DownBlockTypes = [DownEncoder, DownEncoder, DownEncoder, DownEncoder],
        UpBlockTypes = [UpDecoder, UpDecoder, UpDecoder, UpDecoder],
        BlockOutChannels = [128, 256, 512, 512],
        LayersPerBlock = 2,
        LatentChannels = 4,
        NormNumGroups = 32,
        SampleSize = 768,
        ScalingFactor = 0.18215,
    };

    /// <summary>
    /// A tiny VAE for tests and CPU training. Four blocks keep SD's ×8 down-sampling so 64-px images give
    /// the 8×8 latents of <see cref="UNetConfig.Tiny"/>.
    /// </summary>
    public static VaeConfig Tiny => new()
    {
        DownBlockTypes = [DownEncoder, DownEncoder, DownEncoder, DownEncoder],
        UpBlockTypes = [UpDecoder, UpDecoder, UpDecoder, UpDecoder],
        BlockOutChannels = [32, 32, 64, 64],
        LayersPerBlock = 1,
        LatentChannels = 4,
        NormNumGroups = 8,
        SampleSize = 64,
        ScalingFactor = 0.18215,
    };

    /// <summary>Image side / latent side (2^(blocks − 1)).</summary>
    public int DownsampleFactor => 1 << (BlockOutChannels.Length - 1);

    /// <summary>Throws <see cref="DeemConfigException"/> for values this VAE cannot be built from.</summary>
    public VaeConfig Validate(string source)
    {
        int n = BlockOutChannels.Length;
        if (n == 0) throw new DeemConfigException(source, "block_out_channels", "must not be empty");
        if (DownBlockTypes.Length != n || DownBlockTypes.Any(t => t != DownEncoder))
            throw new DeemConfigException(source, "down_block_types", $"expected {n} × {DownEncoder}, found [{string.Join(", ", DownBlockTypes)}]");
        if (UpBlockTypes.Length != n || UpBlockTypes.Any(t => t != UpDecoder))
            throw new DeemConfigException(source, "up_block_types", $"expected {n} × {UpDecoder}, found [{string.Join(", ", UpBlockTypes)}]");
        foreach (var c in BlockOutChannels)
            if (c < 1 || c % NormNumGroups != 0)
                throw new DeemConfigException(source, "block_out_channels", $"{c} is not a positive multiple of norm_num_groups {NormNumGroups}");
        if (LayersPerBlock < 1) throw new DeemConfigException(source, "layers_per_block", $"must be ≥ 1, found {LayersPerBlock}");
        if (LatentChannels < 1) throw new DeemConfigException(source, "latent_channels", $"must be ≥ 1, found {LatentChannels}");
        if (InChannels < 1 || OutChannels < 1) throw new DeemConfigException(source, "in_channels", "channels must be ≥ 1");
        if (ActFn != "silu") throw new DeemConfigException(source, "act_fn", $"only 'silu' is supported, found '{ActFn}'");
        if (!(ScalingFactor > 0)) throw new DeemConfigException(source, "scaling_factor", $"must be > 0, found {ScalingFactor}");
        return this;
    }
}
