using System.Text.Json.Serialization;

namespace Deem.Config;

/// <summary>
/// The text tower of an open_clip CLIP (<c>text_cfg</c> of an open_clip model config,
/// <c>CLIPTextCfg</c>): a causal pre-LN transformer over <c>context_length</c> token positions with
/// EOT pooling and a bias-free projection to the shared embedding. SD 2.1's text encoder is the
/// same network (OpenCLIP-H's tower, reference §1.9), whose states on the empty prompt become
/// DEEM's null embedding (§1.8 step 7). <see cref="Tiny"/> is the tower trained on the procedural
/// world: its token-state width equals the tiny UNet's <c>cross_attention_dim</c> and its context
/// equals the tiny decoder Q-Former's query count, as 1024 and 77 do for SD 2.1.
/// <para>Two keys are DEEM additions open_clip ignores: <c>eos_id</c> and <c>bos_id</c>. With
/// <c>pool_type</c> <c>"argmax"</c> (open_clip's default) the pooled token is the argmax of the ids,
/// which is the EOT position for the CLIP BPE vocabulary (EOT = 49407 is the largest id);
/// <c>"eos"</c> pools at the first <c>eos_id</c>, which is the same position for any vocabulary.</para>
/// </summary>
public sealed record ClipTextConfig
{
    public const string PoolArgmax = "argmax";
    public const string PoolEos = "eos";

    [JsonPropertyName("context_length")] public int ContextLength { get; init; } = 77;
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 49408;
    [JsonPropertyName("width")] public int Width { get; init; } = 512;
    [JsonPropertyName("heads")] public int Heads { get; init; } = 8;
    [JsonPropertyName("layers")] public int Layers { get; init; } = 12;
    [JsonPropertyName("mlp_ratio")] public double MlpRatio { get; init; } = 4.0;
    [JsonPropertyName("pad_id")] public int PadId { get; init; }
    [JsonPropertyName("pool_type")] public string PoolType { get; init; } = PoolArgmax;
    [JsonPropertyName("eos_id")] public int EosId { get; init; } = 49407;
    [JsonPropertyName("bos_id")] public int BosId { get; init; } = 49406;

    /// <summary>Output width of <c>text_projection</c> (the model's <c>embed_dim</c>); 0 = no projection (a diffusers text encoder).</summary>
    [JsonIgnore] public int EmbedDim { get; init; } = 512;

    /// <summary>Hidden width of the MLP (<c>width · mlp_ratio</c>).</summary>
    [JsonIgnore] public int MlpWidth => (int)(Width * MlpRatio);

    /// <summary>
    /// The world's tower: width 64 (= tiny UNet <c>cross_attention_dim</c>), 2 layers, 4 heads, 16
    /// positions (= tiny decoder Q-Former queries), projection to 32; pads with <c>&lt;pad&gt;</c>.
    /// Set <see cref="VocabSize"/> and the special ids from the tokenizer with <c>with</c>.
    /// </summary>
    public static ClipTextConfig Tiny => new()
    {
        ContextLength = 16,
        VocabSize = 256,
        Width = 64,
        Heads = 4,
        Layers = 2,
        MlpRatio = 4.0,
        PadId = 3,
        PoolType = PoolEos,
        EosId = 2,
        BosId = 1,
        EmbedDim = 32,
    };

    /// <summary>Throws <see cref="DeemConfigException"/> for values no tower can have.</summary>
    public ClipTextConfig Validate(string source)
    {
        void Positive(int v, string field) { if (v <= 0) throw new DeemConfigException(source, field, $"must be > 0, found {v}"); }
        Positive(ContextLength, "context_length");
        Positive(VocabSize, "vocab_size");
        Positive(Width, "width");
        Positive(Heads, "heads");
        Positive(Layers, "layers");
        if (Width % Heads != 0) throw new DeemConfigException(source, "width", $"must be divisible by heads ({Heads}), found {Width}");
        if (!(MlpRatio > 0)) throw new DeemConfigException(source, "mlp_ratio", $"must be > 0, found {MlpRatio}");
        if (EmbedDim < 0) throw new DeemConfigException(source, "embed_dim", $"must be ≥ 0, found {EmbedDim}");
        if (PoolType is not (PoolArgmax or PoolEos))
            throw new DeemConfigException(source, "pool_type", $"expected \"{PoolArgmax}\" or \"{PoolEos}\", found \"{PoolType}\"");
        foreach (var (id, field) in new[] { (PadId, "pad_id"), (EosId, "eos_id"), (BosId, "bos_id") })
            if (id < 0 || id >= VocabSize) throw new DeemConfigException(source, field, $"must be in [0, vocab_size={VocabSize}), found {id}");
        return this;
    }
}

/// <summary>
/// HF transformers <c>CLIPTextConfig</c>, the <c>text_encoder/config.json</c> of a diffusers Stable
/// Diffusion folder (SD 2.1: 23 layers of OpenCLIP-H, width 1024, 16 heads, 77 positions, GELU;
/// reference §1.9). Read by the component loader to rebuild the text encoder that makes the null
/// embedding (§1.8 step 7).
/// </summary>
public sealed record HfClipTextConfig
{
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = ["CLIPTextModel"];
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "clip_text_model";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 49408;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 512;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 2048;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 8;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 77;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 49406;
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 49407;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";

    /// <summary>The HF config of an open_clip tower (the conversion SD 2 made of OpenCLIP-H's tower).</summary>
    public static HfClipTextConfig FromOpenClip(ClipTextConfig c) => new()
    {
        VocabSize = c.VocabSize,
        HiddenSize = c.Width,
        IntermediateSize = c.MlpWidth,
        NumHiddenLayers = c.Layers,
        NumAttentionHeads = c.Heads,
        MaxPositionEmbeddings = c.ContextLength,
        HiddenAct = "gelu",
        ProjectionDim = c.EmbedDim,
        BosTokenId = c.BosId,
        EosTokenId = c.EosId,
        PadTokenId = c.PadId,
    };

    /// <summary>
    /// The open_clip tower shape of this encoder, without projection. Special ids come from the
    /// arguments (the SD 2.1 config carries placeholder ids 0/2/1; the real ones are in its tokenizer).
    /// </summary>
    public ClipTextConfig ToOpenClip(string source, int bos, int eos, int pad)
    {
        if (HiddenAct != "gelu")
            throw new DeemConfigException(source, "hidden_act", $"only \"gelu\" (OpenCLIP towers) is supported, found \"{HiddenAct}\"");
        if (HiddenSize <= 0) throw new DeemConfigException(source, "hidden_size", $"must be > 0, found {HiddenSize}");
        return new ClipTextConfig
        {
            ContextLength = MaxPositionEmbeddings,
            VocabSize = VocabSize,
            Width = HiddenSize,
            Heads = NumAttentionHeads,
            Layers = NumHiddenLayers,
            MlpRatio = (double)IntermediateSize / HiddenSize,
            PadId = pad,
            PoolType = ClipTextConfig.PoolEos,
            EosId = eos,
            BosId = bos,
            EmbedDim = 0,
        }.Validate(source);
    }
}
