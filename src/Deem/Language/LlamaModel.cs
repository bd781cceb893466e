using Deem.Config;
using Deem.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>Input of the LLaMA body: exactly one of ids or embeddings.</summary>
/// <param name="InputIds">[B, L] token ids, or null when <paramref name="InputsEmbeds"/> is given.</param>
/// <param name="InputsEmbeds">[B, L, D] input embeddings (e.g. with image rows substituted, reference §1.5).</param>
/// <param name="AttentionMask">[B, P+L] 1 for real tokens, 0 for padding (cached and new), or null for none.</param>
/// <param name="PositionIds">[B, L] explicit positions, or null to derive them from the mask/cache.</param>
/// <param name="Cache">KV cache holding P earlier positions; this call appends L.</param>
/// <param name="Vision">MMFS image states; <c>Visible</c> must have the L rows of the new tokens.</param>
public sealed record LlamaModelInput(
    Tensor? InputIds = null,
    Tensor? InputsEmbeds = null,
    Tensor? AttentionMask = null,
    Tensor? PositionIds = null,
    KvCache? Cache = null,
    MmfsVisionStates? Vision = null);

/// <summary>
/// The LLaMA decoder body, HF <c>LlamaModel</c> (DEEM's <c>mm_decoder</c>, reference §1.6): token
/// embedding, decoder layers with gated MMFS cross-attention on every
/// <c>cross_attention_frequency</c>-th layer, final RMSNorm. Returns the last hidden state after
/// the norm [B, L, D], which feeds both the text head and the image decoder's context. Keys:
/// <c>embed_tokens</c>, <c>layers.{i}.*</c>, <c>norm</c>.
/// </summary>
public sealed class LlamaModel : nn.Module<LlamaModelInput, Tensor>
{
    private readonly Embedding embed_tokens;
    private readonly ModuleList<LlamaDecoderLayer> layers;
    private readonly LlamaRmsNorm norm;
    private readonly LlamaConfig config;

    /// <param name="config">Decoder hyper-parameters (validated here).</param>
    /// <param name="crossAttentionFactory">
    /// Called with each layer index i for which <see cref="LlamaConfig.HasCrossAttention"/> holds; the block it
    /// returns (or null for none) is stored as <c>layers.{i}.llama_cross_attn</c>.
    /// </param>
    /// <param name="generator">Random source of the N(0, initializer_range) weight init.</param>
    public LlamaModel(LlamaConfig config,
                      Func<int, nn.Module<LlamaCrossAttentionInput, Tensor>?>? crossAttentionFactory = null,
                      Generator? generator = null)
        : base(nameof(LlamaModel))
    {
        config.Validate(nameof(LlamaConfig));
        this.config = config;
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize);
        layers = new ModuleList<LlamaDecoderLayer>();
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            var cross = crossAttentionFactory is not null && config.HasCrossAttention(i) ? crossAttentionFactory(i) : null;
            layers.Add(new LlamaDecoderLayer(config, i, cross));
        }
        norm = new LlamaRmsNorm(config.HiddenSize, config.RmsNormEps);
        RegisterComponents();
        InitWeights(this, config.InitializerRange, generator, skipPrefix: "llama_cross_attn");
    }

    /// <summary>The configuration the model was built with.</summary>
    public LlamaConfig Config => config;

    /// <summary>Recompute each decoder layer in the backward pass instead of keeping its activations (training without a KV cache).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Number of cross-attention blocks present.</summary>
    public int CrossAttentionCount => layers.Count(l => l.HasCrossAttention);

    /// <summary>The token embedding table (key <c>embed_tokens</c>).</summary>
    public Embedding EmbedTokensModule => embed_tokens;

    /// <summary>Embeds ids [B, L] → [B, L, D].</summary>
    public Tensor EmbedTokens(Tensor ids) => embed_tokens.forward(ids);

    /// <summary>A fresh KV cache sized for this model.</summary>
    public KvCache NewCache() => new(config.NumHiddenLayers);

    public override Tensor forward(LlamaModelInput input)
    {
        using var scope = NewDisposeScope();
        if ((input.InputIds is null) == (input.InputsEmbeds is null))
            throw new ArgumentException("LlamaModelInput: give exactly one of InputIds and InputsEmbeds", nameof(input));
        var h = input.InputsEmbeds ?? embed_tokens.forward(input.InputIds!);                      // [B, L, D]
        if (h.ndim != 3 || h.shape[2] != config.HiddenSize)
            throw new ArgumentException(
                $"inputs_embeds: expected [B, L, {config.HiddenSize}], found [{string.Join(", ", h.shape)}]", nameof(input));
        var (B, L) = (h.shape[0], h.shape[1]);
        var cache = input.Cache;
        if (cache is not null && cache.NumLayers != config.NumHiddenLayers)
            throw new ArgumentException($"KV cache has {cache.NumLayers} layers, the model {config.NumHiddenLayers}", nameof(input));
        var P = cache?.Length ?? 0;
        CheckVision(input.Vision, B, L);

        var positions = input.PositionIds ?? AttentionMasks.PositionIds(B, L, P, input.AttentionMask, h.device);   // [B, L]
        var (cosL, sinL) = Rope.CosSin(positions, config.HeadDim, config.RopeTheta, h.dtype);                      // [B, L, hD]
        var (cos, sin) = Rope.ForHeads(cosL, sinL);                                                                // [B, 1, L, hD], sin signed
        var mask = AttentionMasks.Additive(B, L, P, input.AttentionMask, h.dtype, h.device);                       // [B, 1, L, P+L]

        bool recompute = ActivationCheckpoint.Applies(GradientCheckpointing) && cache is null;
        foreach (var layer in layers)
            h = recompute ? CheckpointedLayer(layer, h, cos, sin, mask, input.Vision)
                          : layer.forward(new LlamaLayerInput(h, cos, sin, mask, cache, input.Vision));
        return norm.forward(h).MoveToOuterDisposeScope();                                                          // [B, L, D]
    }

    /// <summary>One layer under <see cref="ActivationCheckpoint"/>: every tensor it reads is an input of the checkpoint.</summary>
    private static Tensor CheckpointedLayer(LlamaDecoderLayer layer, Tensor h, Tensor cos, Tensor sin, Tensor? mask, MmfsVisionStates? vision) =>
        ActivationCheckpoint.Run(layer,
            x => layer.forward(new LlamaLayerInput(x[0]!, x[1]!, x[2]!, x[3], null,
                vision is null ? null : vision with { Values = x[4]!, Visible = x[5]! })),
            h, cos, sin, mask, vision?.Values, vision?.Visible);

    private static void CheckVision(MmfsVisionStates? vision, long B, long L)
    {
        if (vision is null) return;
        var vis = vision.Visible;
        if (vis.ndim != 3 || vis.shape[0] != B || vis.shape[1] != L)
            throw new ArgumentException(
                $"vision.Visible: expected [B={B}, L={L}, N] (rows of the new tokens), found [{string.Join(", ", vis.shape)}]");
        var values = vision.Values;
        if (values.ndim != 4 || values.shape[0] != B || values.shape[1] != vis.shape[2])
            throw new ArgumentException(
                $"vision.Values: expected [B={B}, N={vis.shape[2]}, S, Dv], found [{string.Join(", ", values.shape)}]");
    }

    /// <summary>
    /// HF LLaMA init: every Linear/Embedding weight ~ N(0, std), biases 0, norms 1; parameters whose
    /// name contains <paramref name="skipPrefix"/> (the cross-attention blocks, which own their init) are left alone.
    /// </summary>
    internal static void InitWeights(nn.Module module, double std, Generator? generator, string? skipPrefix)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            if (skipPrefix is not null && name.Contains(skipPrefix)) continue;
            if (name.EndsWith("layernorm.weight") || name == "norm.weight" || name.EndsWith(".norm.weight")) continue;
            if (p.ndim == 2) p.normal_(0.0, std, generator);
            else if (name.EndsWith(".bias")) p.zero_();
        }
    }
}
