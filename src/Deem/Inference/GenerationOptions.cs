namespace Deem.Inference;

/// <summary>
/// How text is decoded (reference §4.1, the settings DEEM passes to HF <c>generate</c>): greedy when
/// <see cref="NumBeams"/> is 1 and <see cref="DoSample"/> is false, beam search when
/// <see cref="NumBeams"/> &gt; 1, nucleus/temperature sampling when <see cref="DoSample"/>. Text stops at
/// any of the stop tokens (<c>&lt;/s&gt;</c> and <c>&lt;soi&gt;</c>, the model's <c>eos_token_id = [2, 32000]</c>).
/// </summary>
/// <param name="MaxNewTokens">Most tokens generated per prompt (the stop token included).</param>
/// <param name="MinNewTokens">Stop tokens are forbidden until this many tokens were generated (HF <c>min_length</c> with an embeddings-only prompt).</param>
/// <param name="NumBeams">Beams per prompt; 1 = no beam search.</param>
/// <param name="LengthPenalty">Beam hypotheses are scored Σ log p / n^length_penalty, n = generated tokens.</param>
/// <param name="DoSample">Sample from the processed distribution instead of taking the most likely token.</param>
/// <param name="TopP">Nucleus: keep the smallest set of tokens whose probability reaches top_p (1 = off).</param>
/// <param name="TopK">Keep the k most likely tokens (0 = off).</param>
/// <param name="Temperature">Logits are divided by this before sampling (1 = off).</param>
/// <param name="RepetitionPenalty">HF semantics: a generated token's score s becomes s/p if s &gt; 0, s·p otherwise (1 = off).</param>
/// <param name="Seed">Seed of the sampling generator (sampling is reproducible for a seed).</param>
/// <param name="UseCache">Decode with the KV cache (false recomputes the whole prefix every step; same tokens, slower).</param>
public sealed record GenerationOptions(
    int MaxNewTokens = 30,
    int MinNewTokens = 0,
    int NumBeams = 1,
    double LengthPenalty = 1.0,
    bool DoSample = false,
    double TopP = 1.0,
    int TopK = 0,
    double Temperature = 1.0,
    double RepetitionPenalty = 1.0,
    ulong Seed = 0,
    bool UseCache = true)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first impossible setting.</summary>
    public GenerationOptions Validate()
    {
        void Require(bool ok, string name, object value, string rule)
        {
            if (!ok) throw new ArgumentException($"generation option {name} = {value}: {rule}");
        }
        Require(MaxNewTokens >= 1, "max_new_tokens", MaxNewTokens, "must be ≥ 1");
        Require(MinNewTokens >= 0 && MinNewTokens <= MaxNewTokens, "min_new_tokens", MinNewTokens, $"must be in [0, max_new_tokens = {MaxNewTokens}]");
        Require(NumBeams >= 1, "num_beams", NumBeams, "must be ≥ 1");
        Require(!(DoSample && NumBeams > 1), "num_beams", NumBeams, "beam sampling is not supported; use num_beams = 1 with sampling");
        Require(TopP > 0 && TopP <= 1, "top_p", TopP, "must be in (0, 1]");
        Require(TopK >= 0, "top_k", TopK, "must be ≥ 0");
        Require(Temperature > 0, "temperature", Temperature, "must be > 0");
        Require(RepetitionPenalty > 0, "repetition_penalty", RepetitionPenalty, "must be > 0");
        return this;
    }

    /// <summary>Greedy decoding, everything else off.</summary>
    public static GenerationOptions Greedy(int maxNewTokens = 30) => new(MaxNewTokens: maxNewTokens, NumBeams: 1);
}

/// <summary>
/// The evaluation settings of reference §4.1 (DEEM's <c>generate_texts</c> defaults and the per-task
/// overrides of its evaluation configs) as named presets.
/// </summary>
public static class GenerationPresets
{
    /// <summary>Defaults: 30 new tokens, min 8, 5 beams, length penalty 1, no sampling (top_p 0.9 unused).</summary>
    public static GenerationOptions Default { get; } = new(MaxNewTokens: 30, MinNewTokens: 8, NumBeams: 5, LengthPenalty: 1.0, TopP: 0.9);

    /// <summary>VQA / RobustVQA / POPE: 10 new tokens, 3 beams, length penalty 0.</summary>
    public static GenerationOptions Vqa { get; } = new(MaxNewTokens: 10, MinNewTokens: 0, NumBeams: 3, LengthPenalty: 0.0);

    /// <summary>COCO caption: 20 new tokens, min 8, 5 beams, length penalty 1.</summary>
    public static GenerationOptions Caption { get; } = new(MaxNewTokens: 20, MinNewTokens: 8, NumBeams: 5, LengthPenalty: 1.0, TopP: 0.9);

    /// <summary>Image2Paragraph: 90 new tokens, min 90, repetition penalty 1.2, beams and length penalty left at the defaults (5, 1).</summary>
    public static GenerationOptions Paragraph { get; } = new(MaxNewTokens: 90, MinNewTokens: 90, NumBeams: 5, LengthPenalty: 1.0, TopP: 0.9, RepetitionPenalty: 1.2);

    /// <summary>The interleaved demo (MM-I <c>mm_inference.yaml</c>): 90 new tokens, min 8, nucleus sampling, repetition 1.3.</summary>
    public static GenerationOptions Interleaved { get; } = new(MaxNewTokens: 90, MinNewTokens: 8, NumBeams: 1, DoSample: true, TopP: 0.9, RepetitionPenalty: 1.3);

    /// <summary>Preset by name: default, vqa, caption, paragraph, interleaved, greedy.</summary>
    public static GenerationOptions Named(string name) => name.ToLowerInvariant() switch
    {
        "default" => Default,
        "vqa" => Vqa,
        "caption" => Caption,
        "paragraph" => Paragraph,
        "interleaved" => Interleaved,
        "greedy" => GenerationOptions.Greedy(),
        _ => throw new DeemConfigException("--preset", "preset", $"unknown generation preset '{name}' (default, vqa, caption, paragraph, interleaved, greedy)"),
    };
}
