using Deem.Config;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>
/// The gradient one loss term sends into one part of the model, on a stage's fixed batches.
/// </summary>
/// <param name="Group">The part of the model (<see cref="GradientBalance.GroupOf"/>).</param>
/// <param name="Parameters">Trainable parameters of the part in this stage.</param>
/// <param name="Ntp">‖∇ λ_NTP·NTP‖ over the part.</param>
/// <param name="Nip">‖∇ λ_NIP·NIP‖ over the part.</param>
/// <param name="Csr">‖∇ λ_CSR·CSR‖ over the part.</param>
/// <param name="Total">‖∇ of the stage's weighted sum‖ over the part: what the optimiser sees before clipping.</param>
/// <param name="CosNtpCsr">Cosine between the NTP and the CSR gradient over the part; null where either is zero.</param>
public sealed record GradientBalanceRow(string Group, long Parameters, double Ntp, double Nip, double Csr, double Total, double? CosNtpCsr);

/// <summary>What each weighted loss term contributes to each part's gradient (<see cref="GradientBalance"/>).</summary>
/// <param name="Groups">One row per part with trainable parameters, in the model's order.</param>
/// <param name="All">The same over every trainable parameter.</param>
/// <param name="Weights">λ_NTP, λ_NIP, λ_CSR of the stage (a batch's own NTP/NIP weight takes precedence, as in training).</param>
/// <param name="MaxGradNorm">The stage's clipping threshold (0: none).</param>
/// <param name="Batches">Fixed batches averaged.</param>
public sealed record GradientBalanceReport(IReadOnlyList<GradientBalanceRow> Groups, GradientBalanceRow All,
    (double Ntp, double Nip, double Csr) Weights, double MaxGradNorm, int Batches)
{
    /// <summary>The factor clipping multiplies the mean gradient by: min(1, max_grad_norm / ‖g‖); 1 without clipping.</summary>
    public double ClipFactor => MaxGradNorm > 0 && All.Total > MaxGradNorm ? MaxGradNorm / All.Total : 1.0;
}

/// <summary>
/// Which loss term drives which part of the model: on an <see cref="EvalSet"/>, the gradient of each
/// λ-weighted term (NTP, NIP, CSR; reference §2.1–2.3) over the parameters a stage trains
/// (<see cref="FreezeSchedule"/>), averaged over the batches, as norms per part and the cosine between
/// the NTP and CSR gradients where both reach (the perceiver and adapters in stage 2, where CSR's
/// gradient corrects the rows the LLM reads). Each term's gradient comes from its own backward of one
/// forward per batch at the evaluation's fixed noise, in eval mode (no dropout, stochastic depth or CFG
/// swap), so every term sees the same draws and the result is reproducible.
/// </summary>
public static class GradientBalance
{
    /// <summary>The parts of a DEEM model, first match wins: (label, name prefix, name must contain).</summary>
    static readonly (string Label, string Prefix, string? Contains)[] Parts =
    [
        ("LLM MMFS cross-attention", "mm_decoder.", ".llama_cross_attn."),
        ("LLM", "mm_decoder.", null),
        ("text head", "text_decoder.", null),
        ("encoder adapters", "visual_tokenizer.sniffer.vision_model.adapter_", null),
        ("encoder trunk (ConvNeXt)", "visual_tokenizer.sniffer.", null),
        ("visual Q-Former (perceiver)", "visual_tokenizer.perceiver_resampler.", null),
        ("perceiver input (pos_proj, LNs)", "visual_tokenizer.pos_", null),
        ("perceiver input (pos_proj, LNs)", "visual_tokenizer.post_ln.", null),
        ("proj_t (rows into the LLM)", "visual_tokenizer.proj_t.", null),
        ("proj_i (CSR's condition)", "visual_tokenizer.proj_i.", null),
        ("MMFSNet", "visual_tokenizer.encoder.mmfs_module.", null),
        ("UNet", "visual_tokenizer.encoder.unet.", null),
        ("image decoder", "image_decoder.", null),
        ("image decoder", "context_feat_proj.", null),
        ("LLM", "soi_token", null),
    ];

    /// <summary>The part a parameter belongs to; "other" when none of <see cref="Parts"/> matches.</summary>
    public static string GroupOf(string name)
    {
        foreach (var (label, prefix, contains) in Parts)
            if (name.StartsWith(prefix, StringComparison.Ordinal) && (contains is null || name.Contains(contains, StringComparison.Ordinal)))
                return label;
        return "other";
    }

    /// <summary>
    /// Measures the balance on <paramref name="set"/>. Sets the trainable parameters to
    /// <paramref name="stage"/>'s freeze schedule (as training would) and leaves no gradient behind.
    /// </summary>
    public static GradientBalanceReport Measure(DeemModel model, EvalSet set, StageConfig stage)
    {
        if (set.Count == 0) throw new DeemException("gradient balance needs at least one evaluation batch");
        FreezeSchedule.Of(stage).Apply(model);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        if (trainable.Count == 0) throw new DeemException($"stage {stage.Name} trains no parameter of this model");
        bool wasTraining = model.training;
        model.eval();
        // Summed per-term gradients, one entry per trainable parameter (null until a term reaches it).
        var sums = new Tensor?[3][];
        for (int term = 0; term < 3; term++) sums[term] = new Tensor?[trainable.Count];
        try
        {
            for (int i = 0; i < set.Count; i++)
            {
                var b = set.Batches[i];
                double[] weights = [b.NtpWeight ?? stage.NtpWeight, b.NipWeight ?? stage.NipWeight, stage.CsrWeight];
                using var scope = NewDisposeScope();
                // One forward computes every term (weight 1) at the evaluation's draws; each weighted term is then
                // differentiated on its own, the graph kept until the last.
                using var g = new Generator(EvalSet.NoiseSeed + (ulong)i);
                var o = model.forward(BatchInput.WithWeights(b, ntp: 1.0, nip: 1.0, csr: 1.0, g, device: model.Device));
                Tensor[] losses = [o.Ntp, o.Nip, o.Csr];
                // A term of weight 0, or one that reaches no trainable parameter, adds nothing.
                var terms = Enumerable.Range(0, 3).Where(term => weights[term] != 0 && losses[term].requires_grad).ToList();
                foreach (int term in terms)
                {
                    foreach (var (_, p) in trainable) p.grad = null;
                    (losses[term] * (weights[term] / set.Count)).backward(retain_graph: term != terms[^1]);
                    for (int k = 0; k < trainable.Count; k++)
                        if (trainable[k].parameter.grad is { } grad)
                        {
                            if (sums[term][k] is { } sum) sum.add_(grad);
                            else sums[term][k] = grad.detach().to(float64, copy: true).DetachFromDisposeScope();
                        }
                    foreach (var (_, p) in trainable) p.grad = null;
                }
            }
            using var rows = NewDisposeScope();
            var groups = trainable.Select((p, k) => (Part: GroupOf(p.name), Index: k)).GroupBy(x => x.Part)   // in the model's order
                .Select(part => Row(part.Key, part.Select(x => x.Index).ToList(), trainable, sums)).ToList();
            var all = Row("all trainable", Enumerable.Range(0, trainable.Count).ToList(), trainable, sums);
            return new GradientBalanceReport(groups, all, (stage.NtpWeight, stage.NipWeight, stage.CsrWeight), stage.MaxGradNorm, set.Count);
        }
        finally
        {
            foreach (var term in sums) foreach (var t in term) t?.Dispose();
            model.train(wasTraining);
        }
    }

    /// <summary>Norms (and the NTP·CSR cosine) of the summed gradients of the parameters <paramref name="members"/>.</summary>
    static GradientBalanceRow Row(string label, List<int> members, List<(string name, TorchSharp.Modules.Parameter parameter)> trainable, Tensor?[][] sums)
    {
        double Dot(int a, int b) => members.Sum(k => sums[a][k] is { } x && sums[b][k] is { } y ? (x * y).sum().item<double>() : 0.0);
        double[,] dot = new double[3, 3];
        for (int a = 0; a < 3; a++)
            for (int b = a; b < 3; b++)
                dot[a, b] = dot[b, a] = Dot(a, b);
        double total = 0;                          // ‖Σ terms‖² = Σ_a Σ_b ⟨g_a, g_b⟩
        for (int a = 0; a < 3; a++) for (int b = 0; b < 3; b++) total += dot[a, b];
        double ntp = Math.Sqrt(dot[0, 0]), nip = Math.Sqrt(dot[1, 1]), csr = Math.Sqrt(dot[2, 2]);
        double? cos = ntp > 0 && csr > 0 ? dot[0, 2] / (ntp * csr) : null;
        long parameters = members.Sum(k => trainable[k].parameter.numel());
        return new GradientBalanceRow(label, parameters, ntp, nip, csr, Math.Sqrt(Math.Max(total, 0)), cos);
    }
}
