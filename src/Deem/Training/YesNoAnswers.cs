using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>The ids of the single-token answers "yes" and "no" of a tokenizer.</summary>
public readonly record struct YesNoTokens(long Yes, long No)
{
    /// <summary>
    /// "yes" and "no" as the tokenizer writes them without BOS (the world's vocabulary has both words; the LLaMA
    /// vocabulary has "▁yes" and "▁no"), or null when either is not one token.
    /// </summary>
    public static YesNoTokens? Of(ITextTokenizer tokenizer)
    {
        var yes = tokenizer.Encode("yes");
        var no = tokenizer.Encode("no");
        return yes.Count == 1 && no.Count == 1 && yes[0] != no[0] ? new YesNoTokens(yes[0], no[0]) : null;
    }
}

/// <summary>
/// Teacher-forced yes/no answers of one batch: at every label that is "yes" or "no", whether the model's logit
/// for the right one of the two exceeds the other's. The benchmarks' question (is the answer, restricted to
/// yes/no, right?) read off the training forward, so a run's evaluation shows when its answers start to
/// depend on the image, not only its NTP.
/// </summary>
/// <param name="Correct">Labels where the right one of the two had the larger logit.</param>
/// <param name="Total">Labels that are "yes" or "no".</param>
/// <param name="SaidYes">Labels where "yes" had the larger logit (the yes-ratio's numerator).</param>
public readonly record struct YesNoCount(long Correct, long Total, long SaidYes)
{
    public static YesNoCount operator +(YesNoCount a, YesNoCount b) =>
        new(a.Correct + b.Correct, a.Total + b.Total, a.SaidYes + b.SaidYes);

    /// <summary>Correct / Total, or null without a yes/no label.</summary>
    public double? Accuracy => Total > 0 ? (double)Correct / Total : null;

    /// <summary>SaidYes / Total, or null without a yes/no label.</summary>
    public double? YesRatio => Total > 0 ? (double)SaidYes / Total : null;

    /// <summary>
    /// Counts over logits [B, L, V] (position j predicts label j) and labels [B, L−1], as
    /// <see cref="Language.NextTokenLoss.Compute"/> pairs them.
    /// </summary>
    public static YesNoCount Of(Tensor logits, Tensor labels, YesNoTokens tokens)
    {
        using var scope = NewDisposeScope();
        long L = logits.shape[1];
        if (labels.ndim != 2 || labels.shape[0] != logits.shape[0] || labels.shape[1] != L - 1)
            throw new ArgumentException(
                $"labels: expected [B={logits.shape[0]}, L-1={L - 1}], found [{string.Join(", ", labels.shape)}]", nameof(labels));
        var pred = logits.narrow(1, 0, L - 1);                                                     // [B, L-1, V]
        var isYes = labels.eq(tokens.Yes);                                                          // [B, L-1]
        var asked = isYes.logical_or(labels.eq(tokens.No));                                         // [B, L-1]
        var saysYes = pred.select(2, tokens.Yes).gt(pred.select(2, tokens.No));                    // [B, L-1]
        long total = asked.sum().item<long>();
        long correct = saysYes.eq(isYes).logical_and(asked).sum().item<long>();
        long saidYes = saysYes.logical_and(asked).sum().item<long>();
        return new YesNoCount(correct, total, saidYes);
    }
}
