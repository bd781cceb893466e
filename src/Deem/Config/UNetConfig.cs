using System.Text.Json;
using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// Configuration of the Stable-Diffusion UNet (diffusers <c>UNet2DConditionModel</c>, read from a
/// published <c>unet/config.json</c>), the frozen denoiser D_DM of paper §2 (Eqs. 3 and 5) and
/// reference §1.9. Only the SD-1/2 family of blocks is supported: <c>CrossAttnDownBlock2D</c> /
/// <c>DownBlock2D</c> down, <c>UNetMidBlock2DCrossAttn</c> mid, <c>UpBlock2D</c> /
/// <c>CrossAttnUpBlock2D</c> up. As in diffusers, <c>attention_head_dim</c> of SD-2 configs is in fact
/// the number of heads per block (5/10/20/20, head size 64) unless <c>num_attention_heads</c> is given.
/// </summary>
public sealed record UNetConfig
{
    public const string CrossAttnDown = "CrossAttnDownBlock2D";
    public const string Down = "DownBlock2D";
    public const string CrossAttnUp = "CrossAttnUpBlock2D";
    public const string Up = "UpBlock2D";

    [JsonPropertyName("sample_size")] public int SampleSize { get; init; } = 64;
    [JsonPropertyName("in_channels")] public int InChannels { get; init; } = 4;
    [JsonPropertyName("out_channels")] public int OutChannels { get; init; } = 4;
    [JsonPropertyName("center_input_sample")] public bool CenterInputSample { get; init; }
    [JsonPropertyName("flip_sin_to_cos")] public bool FlipSinToCos { get; init; } = true;
    [JsonPropertyName("freq_shift")] public int FreqShift { get; init; }

    [JsonPropertyName("down_block_types")]
    public string[] DownBlockTypes { get; init; } = [CrossAttnDown, CrossAttnDown, CrossAttnDown, Down];

    [JsonPropertyName("up_block_types")]
    public string[] UpBlockTypes { get; init; } = [Up, CrossAttnUp, CrossAttnUp, CrossAttnUp];

    [JsonPropertyName("block_out_channels")] public int[] BlockOutChannels { get; init; } = [320, 640, 1280, 1280];
    [JsonPropertyName("layers_per_block")] public int LayersPerBlock { get; init; } = 2;
    [JsonPropertyName("downsample_padding")] public int DownsamplePadding { get; init; } = 1;
    [JsonPropertyName("mid_block_scale_factor")] public double MidBlockScaleFactor { get; init; } = 1.0;
    [JsonPropertyName("act_fn")] public string ActFn { get; init; } = "silu";
    [JsonPropertyName("norm_num_groups")] public int NormNumGroups { get; init; } = 32;
    [JsonPropertyName("norm_eps")] public double NormEps { get; init; } = 1e-5;
    [JsonPropertyName("cross_attention_dim")] public int CrossAttentionDim { get; init; } = 1280;

    /// <summary>Per-block value (an int in SD-1 configs is broadcast). Heads per block in SD-2 (diffusers naming quirk).</summary>
    [JsonPropertyName("attention_head_dim"), JsonConverter(typeof(IntOrIntArrayConverter))]
    public int[] AttentionHeadDim { get; init; } = [8];

    /// <summary>When present, the real number of heads per block; otherwise <see cref="AttentionHeadDim"/> is used.</summary>
    [JsonPropertyName("num_attention_heads"), JsonConverter(typeof(IntOrIntArrayConverter))]
    public int[]? NumAttentionHeads { get; init; }

    [JsonPropertyName("use_linear_projection")] public bool UseLinearProjection { get; init; }
    [JsonPropertyName("upcast_attention")] public bool UpcastAttention { get; init; }
    [JsonPropertyName("only_cross_attention")] public bool OnlyCrossAttention { get; init; }
    [JsonPropertyName("dual_cross_attention")] public bool DualCrossAttention { get; init; }

    /// <summary><c>stabilityai/stable-diffusion-2-1-base</c> <c>unet/config.json</c> (865,910,724 parameters).</summary>
    public static UNetConfig Sd21Base => new()
    {
        SampleSize = 64,
        BlockOutChannels = [320, 640, 1280, 1280],
        LayersPerBlock = 2,
        AttentionHeadDim = [5, 10, 20, 20],
        CrossAttentionDim = 1024,
        UseLinearProjection = true,
        UpcastAttention = false,
    };

    /// <summary>A tiny UNet for tests and CPU training: 8×8 latents (64-px images), 2 heads, condition width 64.</summary>
    public static UNetConfig Tiny => new()
    {
        SampleSize = 8,
        DownBlockTypes = [CrossAttnDown, Down],
        UpBlockTypes = [Up, CrossAttnUp],
        BlockOutChannels = [32, 64],
        LayersPerBlock = 1,
        NormNumGroups = 8,
        AttentionHeadDim = [2],
        CrossAttentionDim = 64,
        UseLinearProjection = true,
    };

    /// <summary>Width of the time embedding: 4 × the first block's channels.</summary>
    public int TimeEmbedDim => BlockOutChannels[0] * 4;

    /// <summary>Number of attention heads of down block <paramref name="i"/> (diffusers: num_attention_heads or attention_head_dim).</summary>
    public int HeadsOfBlock(int i)
    {
        var h = NumAttentionHeads ?? AttentionHeadDim;
        return h.Length == 1 ? h[0] : h[i];
    }

    /// <summary>
    /// Channels of the skip tensors the down path keeps, in the order the UNet stores them
    /// (conv_in output, then per down block its resnet outputs and its downsampler output).
    /// For SD-2.1 these are the 12 tensors MMFSNet adds residuals to (reference §1.9).
    /// </summary>
    public int[] SkipChannels()
    {
        var list = new List<int> { BlockOutChannels[0] };
        for (int i = 0; i < BlockOutChannels.Length; i++)
        {
            for (int j = 0; j < LayersPerBlock; j++) list.Add(BlockOutChannels[i]);
            if (i < BlockOutChannels.Length - 1) list.Add(BlockOutChannels[i]);
        }
        return list.ToArray();
    }

    /// <summary>Spatial down-sampling factor of each skip tensor relative to the latent (1, 1, 1, 2, …).</summary>
    public int[] SkipStrides()
    {
        var list = new List<int> { 1 };
        for (int i = 0; i < BlockOutChannels.Length; i++)
        {
            for (int j = 0; j < LayersPerBlock; j++) list.Add(1 << i);
            if (i < BlockOutChannels.Length - 1) list.Add(1 << (i + 1));
        }
        return list.ToArray();
    }

    /// <summary>Channels of the mid-block output (the last block's width).</summary>
    public int MidChannels => BlockOutChannels[^1];

    /// <summary>Spatial down-sampling factor of the mid-block output relative to the latent.</summary>
    public int MidStride => 1 << (BlockOutChannels.Length - 1);

    /// <summary>Throws <see cref="DeemConfigException"/> for values this UNet cannot be built from.</summary>
    public UNetConfig Validate(string source)
    {
        int n = BlockOutChannels.Length;
        if (n == 0) throw new DeemConfigException(source, "block_out_channels", "must not be empty");
        if (DownBlockTypes.Length != n)
            throw new DeemConfigException(source, "down_block_types", $"expected {n} entries (one per block_out_channels), found {DownBlockTypes.Length}");
        if (UpBlockTypes.Length != n)
            throw new DeemConfigException(source, "up_block_types", $"expected {n} entries (one per block_out_channels), found {UpBlockTypes.Length}");
        foreach (var t in DownBlockTypes)
            if (t != CrossAttnDown && t != Down)
                throw new DeemConfigException(source, "down_block_types", $"unsupported block '{t}' (expected {CrossAttnDown} or {Down})");
        foreach (var t in UpBlockTypes)
            if (t != CrossAttnUp && t != Up)
                throw new DeemConfigException(source, "up_block_types", $"unsupported block '{t}' (expected {CrossAttnUp} or {Up})");
        if (LayersPerBlock < 1) throw new DeemConfigException(source, "layers_per_block", $"must be ≥ 1, found {LayersPerBlock}");
        if (InChannels < 1 || OutChannels < 1) throw new DeemConfigException(source, "in_channels", "channels must be ≥ 1");
        if (CrossAttentionDim < 1) throw new DeemConfigException(source, "cross_attention_dim", $"must be ≥ 1, found {CrossAttentionDim}");
        if (ActFn != "silu") throw new DeemConfigException(source, "act_fn", $"only 'silu' is supported, found '{ActFn}'");
        if (DualCrossAttention) throw new DeemConfigException(source, "dual_cross_attention", "not supported");
        if (OnlyCrossAttention) throw new DeemConfigException(source, "only_cross_attention", "not supported");
        if (MidBlockScaleFactor != 1.0) throw new DeemConfigException(source, "mid_block_scale_factor", $"only 1.0 is supported, found {MidBlockScaleFactor}");
        if (CenterInputSample) throw new DeemConfigException(source, "center_input_sample", "not supported");
        var heads = NumAttentionHeads ?? AttentionHeadDim;
        string headsField = NumAttentionHeads is null ? "attention_head_dim" : "num_attention_heads";
        if (heads.Length != 1 && heads.Length != n)
            throw new DeemConfigException(source, headsField, $"expected 1 or {n} entries, found {heads.Length}");
        for (int i = 0; i < n; i++)
        {
            int c = BlockOutChannels[i];
            if (c < 1 || c % NormNumGroups != 0)
                throw new DeemConfigException(source, "block_out_channels", $"{c} is not a positive multiple of norm_num_groups {NormNumGroups}");
            int h = HeadsOfBlock(i);
            if (h < 1 || c % h != 0)
                throw new DeemConfigException(source, headsField, $"{h} heads do not divide {c} channels of block {i}");
        }
        return this;
    }
}

/// <summary>Reads a JSON int or int array as <c>int[]</c> (diffusers writes either for per-block values).</summary>
public sealed class IntOrIntArrayConverter : JsonConverter<int[]>
{
    public override int[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType == JsonTokenType.Number) return [reader.GetInt32()];
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected an integer or an array of integers");
        var list = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number) throw new JsonException("expected an integer in the array");
            list.Add(reader.GetInt32());
        }
        return list.ToArray();
    }

    public override void Write(Utf8JsonWriter writer, int[] value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var v in value) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
