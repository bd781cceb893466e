using Deem.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// DEEM's text head (reference §1.7, <c>text_decoder</c>): a frozen <c>head</c> Linear(D, V) whose
/// rows below the base vocabulary are Vicuna's <c>lm_head</c> and whose rows for the new tokens are
/// 0 with bias −100, plus a trainable <c>head_new</c> Linear(D, n_new) (weight 0, bias 95) added to
/// the last n_new logits. A new token's initial logit is therefore −5, and only <c>head_new</c>
/// learns it. Keys: <c>head.weight</c>, <c>head.bias</c>, <c>head_new.weight</c>, <c>head_new.bias</c>.
/// </summary>
public sealed class TextHead : nn.Module<Tensor, Tensor>
{
    /// <summary>Bias of the frozen head on the new tokens.</summary>
    public const double NewTokenHeadBias = -100.0;

    /// <summary>Initial bias of <c>head_new</c>.</summary>
    public const double HeadNewBias = 95.0;

    private readonly Linear head;
    private readonly Linear head_new;
    private readonly long vocabSize;
    private readonly long newTokenCount;

    /// <param name="hiddenSize">D, the LLM width.</param>
    /// <param name="vocabSize">V_total, base vocabulary plus new tokens (32006 at paper scale).</param>
    /// <param name="newTokenCount">n_new, the tokens appended after the base vocabulary (6).</param>
    /// <param name="initStd">Std of the N(0, std) init of the base rows before <see cref="LoadLmHead"/>.</param>
    /// <param name="generator">Random source of that init.</param>
    /// <param name="freezeHead">Whether <c>head</c> is frozen (true in DEEM).</param>
    public TextHead(long hiddenSize, long vocabSize, long newTokenCount, double initStd = 0.02,
                    Generator? generator = null, bool freezeHead = true)
        : base(nameof(TextHead))
    {
        if (newTokenCount <= 0 || newTokenCount >= vocabSize)
            throw new ArgumentOutOfRangeException(nameof(newTokenCount), newTokenCount, $"must be in (0, vocabSize={vocabSize})");
        this.vocabSize = vocabSize;
        this.newTokenCount = newTokenCount;
        head = nn.Linear(hiddenSize, vocabSize, hasBias: true);
        head_new = nn.Linear(hiddenSize, newTokenCount, hasBias: true);
        RegisterComponents();

        using (no_grad())
        {
            head.weight!.normal_(0.0, initStd, generator);
            ResetNewTokenRows();
            head_new.weight!.zero_();
            head_new.bias!.fill_(HeadNewBias);
        }
        if (freezeHead)
            foreach (var p in head.parameters()) p.requires_grad = false;
    }

    /// <summary>Size of the base vocabulary (rows copied from the LM head).</summary>
    public long BaseVocabSize => vocabSize - newTokenCount;

    /// <summary>The frozen head's weight [V, D].</summary>
    public Parameter HeadWeight => head.weight!;

    /// <summary>The frozen head's bias [V].</summary>
    public Parameter HeadBias => head.bias!;

    /// <summary>The trainable head's weight [n_new, D].</summary>
    public Parameter HeadNewWeight => head_new.weight!;

    /// <summary>The trainable head's bias [n_new].</summary>
    public Parameter HeadNewBiasParameter => head_new.bias!;

    /// <summary>
    /// Initialises <c>head</c> from a Vicuna <c>lm_head.weight</c> [V_base, D] (or [V_total, D], whose
    /// extra rows are ignored): base rows copied, new-token rows 0, bias 0 / −100.
    /// </summary>
    public void LoadLmHead(Tensor lmHeadWeight)
    {
        var w = head.weight!;
        if (lmHeadWeight.ndim != 2 || lmHeadWeight.shape[1] != w.shape[1] || lmHeadWeight.shape[0] < BaseVocabSize)
            throw new ArgumentException(
                $"lm_head.weight: expected [≥{BaseVocabSize}, {w.shape[1]}], found [{string.Join(", ", lmHeadWeight.shape)}]",
                nameof(lmHeadWeight));
        using var noGrad = no_grad();
        w.narrow(0, 0, BaseVocabSize).copy_(lmHeadWeight.narrow(0, 0, BaseVocabSize));
        ResetNewTokenRows();
    }

    private void ResetNewTokenRows()
    {
        head.weight!.narrow(0, BaseVocabSize, newTokenCount).zero_();
        head.bias!.zero_();
        head.bias!.narrow(0, BaseVocabSize, newTokenCount).fill_(NewTokenHeadBias);
    }

    /// <summary>Logits [..., V] of hidden states [..., D].</summary>
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        // Logits in fp32 whatever the dtype of the (frozen) head: sampling and the loss read them.
        var logits = head.forward(hidden.AsInputOf(head)).Fp32();            // [..., V]
        var oldPart = logits.narrow(-1, 0, BaseVocabSize);                    // [..., V_base]
        var newPart = logits.narrow(-1, BaseVocabSize, newTokenCount)
                      + head_new.forward(hidden.AsInputOf(head_new)).Fp32();  // [..., n_new]
        return cat([oldPart, newPart], dim: -1).MoveToOuterDisposeScope();    // [..., V]
    }
}
