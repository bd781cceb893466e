using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>Input of <see cref="QFormerModel"/>.</summary>
/// <param name="QueryEmbeds">[B or 1, Nq, H] query embeddings (broadcast over the batch when the first dim is 1).</param>
/// <param name="EncoderHidden">[B, S, E] the states the queries cross-attend to.</param>
/// <param name="EncoderMask">[B, S] 1 (or true) on valid keys, 0 on padding; null = all valid.</param>
public sealed record QFormerModelInput(Tensor QueryEmbeds, Tensor EncoderHidden, Tensor? EncoderMask = null);

/// <summary>
/// HF transformers 4.31 <c>Blip2QFormerModel</c> fed with query embeddings only (reference §1.4; paper
/// §2): <c>layernorm</c> + dropout on the queries, then the post-LN layers of <c>encoder</c>. The
/// encoder mask becomes the BERT additive bias <c>(1 − mask) · finfo(dtype).min</c> on padded keys.
/// </summary>
public sealed class QFormerModel : nn.Module<QFormerModelInput, Tensor>
{
    private readonly LayerNorm layernorm;
    private readonly Dropout dropout;
    private readonly QFormerEncoder encoder;

    private readonly QFormerConfig config;

    public QFormerModel(QFormerConfig config, Generator? generator = null, Device? device = null)
        : base(nameof(QFormerModel))
    {
        this.config = config.Validate(nameof(QFormerConfig));
        layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        encoder = new QFormerEncoder(config, generator, device);
        RegisterComponents();
    }

    /// <summary>The configuration this model was built from.</summary>
    public QFormerConfig Config => config;

    /// <summary>The layers, in order.</summary>
    public IReadOnlyList<QFormerLayer> Layers => encoder.Layers;

    /// <summary>Recompute each layer in the backward pass (<see cref="QFormerEncoder.GradientCheckpointing"/>).</summary>
    public bool GradientCheckpointing { get => encoder.GradientCheckpointing; set => encoder.GradientCheckpointing = value; }

    /// <returns>[B, Nq, H] the last hidden state.</returns>
    public override Tensor forward(QFormerModelInput input)
    {
        using var scope = NewDisposeScope();
        var enc = input.EncoderHidden;
        if (enc.dim() != 3 || enc.shape[2] != config.EncoderHiddenSize)
            throw new ArgumentException(
                $"EncoderHidden: expected [B, S, {config.EncoderHiddenSize}], found [{string.Join(", ", enc.shape)}]");
        var (B, S) = (enc.shape[0], enc.shape[1]);
        var queries = input.QueryEmbeds;
        if (queries.dim() != 3 || queries.shape[2] != config.HiddenSize || (queries.shape[0] != 1 && queries.shape[0] != B))
            throw new ArgumentException(
                $"QueryEmbeds: expected [1 or {B}, Nq, {config.HiddenSize}], found [{string.Join(", ", queries.shape)}]");
        if (queries.shape[0] != B)
            queries = queries.expand(B, -1, -1);                                   // [B, Nq, H]

        var h = dropout.forward(layernorm.forward(queries));                       // [B, Nq, H]
        var bias = input.EncoderMask is null ? null : AdditiveKeyBias(input.EncoderMask, B, S, h.dtype);
        return encoder.forward(new QFormerAttentionInput(h, enc, bias)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// BERT's inverted encoder mask: [B, S] (1/true valid) → [B, 1, 1, S] with 0 on valid keys and
    /// the most negative finite value of <paramref name="dtype"/> on padded ones.
    /// </summary>
    public static Tensor AdditiveKeyBias(Tensor mask, long batch, long keys, ScalarType dtype)
    {
        if (mask.dim() != 2 || mask.shape[0] != batch || mask.shape[1] != keys)
            throw new ArgumentException($"EncoderMask: expected [{batch}, {keys}], found [{string.Join(", ", mask.shape)}]");
        using var scope = NewDisposeScope();
        var valid = mask.to(dtype);                                                // [B, S]
        var bias = (1.0 - valid) * finfo(dtype).min;                               // [B, S]
        return bias.view(batch, 1, 1, keys).MoveToOuterDisposeScope();             // [B, 1, 1, S]
    }
}
