using System.Text.RegularExpressions;
using Deem.Config;
using Deem.Vision;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>A tensor the authors' checkpoints hold that this model does not keep in its state dict.</summary>
/// <param name="Pattern">The checkpoint keys it covers (a regular expression over the whole key).</param>
/// <param name="What">What it is, for reports.</param>
/// <param name="Check">Null when the tensor holds what this model computes itself, else why not.</param>
public sealed record KnownExtra(Regex Pattern, string What, Func<Tensor, DeemConfig, string?> Check);

/// <summary>
/// The ONE list of keys DEEM / MM-Interleaved checkpoints hold beyond this model's state dict (reference
/// §1.2–§1.3, §1.6): the visual tokenizer's CLIP mean/std buffers and its fixed 2-D sin-cos table, which
/// this model keeps as constants outside the state dict (<see cref="ImageEncoder"/>), and the RoPE
/// <c>inv_freq</c> buffers older LLaMA code saved. An import checks each one's values against what the
/// model computes; nothing else may be dropped.
/// </summary>
public static class KnownCheckpointExtras
{
    public static IReadOnlyList<KnownExtra> All { get; } =
    [
        new(new Regex(@"^visual_tokenizer\.clip_mean$"), "CLIP pixel mean buffer", (t, _) => SameValues(t, ImageEncoder.ClipMean, "the OpenAI CLIP mean")),
        new(new Regex(@"^visual_tokenizer\.clip_std$"), "CLIP pixel std buffer", (t, _) => SameValues(t, ImageEncoder.ClipStd, "the OpenAI CLIP std")),
        new(new Regex(@"^visual_tokenizer\.pos_embed$"), "fixed 2-D sin-cos table (16×16 grid + zero CLS row)", (t, _) => SinCos(t)),
        new(new Regex(@"^(mm_decoder|model)\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$"), "RoPE inverse frequencies", InvFreq),
    ];

    /// <summary>The entry covering <paramref name="key"/>, or null.</summary>
    public static KnownExtra? Find(string key) => All.FirstOrDefault(e => e.Pattern.IsMatch(key));

    static string? SameValues(Tensor t, float[] expected, string name)
    {
        using var flat = t.to(ScalarType.Float32).flatten();
        if (flat.numel() != expected.Length) return $"holds {flat.numel()} values, expected {expected.Length} ({name})";
        using var want = tensor(expected);
        return allclose(flat, want, rtol: 1e-3, atol: 1e-4) ? null : $"differs from {name}";
    }

    static string? SinCos(Tensor t)
    {
        if (t.dim() < 2) return $"shape [{string.Join(", ", t.shape)}] is not a [1 + G·G, C] table";
        long rows = t.shape[^2], C = t.shape[^1];
        int G = (int)Math.Round(Math.Sqrt(rows - 1));
        if (G * G + 1 != rows || C % 4 != 0) return $"shape [{string.Join(", ", t.shape)}] is not a [1 + G·G, C] table";
        using var scope = NewDisposeScope();
        var want = SinCosPositionEmbedding.Table((int)C, G, clsToken: true);
        return allclose(t.to(ScalarType.Float32).reshape(rows, C), want, rtol: 1e-3, atol: 1e-3) ? null : $"differs from the {G}×{G} sin-cos table";
    }

    static string? InvFreq(Tensor t, DeemConfig config)
    {
        int headDim = config.Llm.HiddenSize / config.Llm.NumAttentionHeads;
        if (t.dim() != 1 || t.shape[0] != headDim / 2) return $"shape [{string.Join(", ", t.shape)}], expected [{headDim / 2}]";
        using var scope = NewDisposeScope();
        var want = pow(config.Llm.RopeTheta, arange(0, headDim, 2, dtype: ScalarType.Float64).div(headDim)).reciprocal().to(ScalarType.Float32);
        return allclose(t.to(ScalarType.Float32), want, rtol: 1e-3, atol: 1e-6) ? null : $"differs from 1/θ^(2i/d) with θ = {config.Llm.RopeTheta}";
    }
}
