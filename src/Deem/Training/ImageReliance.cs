using Deem.Config;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>
/// Does a model's text depend on its images, where along the image path is the information lost, and does
/// the diffusion model that gives CSR its gradient depend on the encoder's code at all?
/// </summary>
/// <param name="Ntp">NTP of the fixed batches with their own images.</param>
/// <param name="NtpShuffled">NTP with each batch's images rolled by one (another sample's image).</param>
/// <param name="EncoderSpread">Across-image spread of the encoder tokens (CLS + stage-3 tokens).</param>
/// <param name="ImageRowSpread">Across-image spread of the rows that enter the LLM (proj_t(perceiver), or the LLaVA projector).</param>
/// <param name="Images">Images measured.</param>
/// <param name="Csr">CSR (Eq. 5: the frozen diffusion model rebuilds each image from the encoder's code of it), at the
/// evaluation's fixed noise; null when the model has no diffusion model or no batch holds two images.</param>
/// <param name="CsrShuffled">The same targets, noise and timesteps, each conditioned on another sample's image (rolled by one).</param>
/// <param name="YesNo">The batches' yes/no answers, teacher-forced (<see cref="EvalMetrics.YesNoAccuracy"/>): accuracy,
/// yes-ratio and how many; null when the batches hold none.</param>
public sealed record ImageRelianceReport(double Ntp, double NtpShuffled, double EncoderSpread, double ImageRowSpread, long Images,
    double? Csr = null, double? CsrShuffled = null, (double Accuracy, double YesRatio, long Answers)? YesNo = null)
{
    /// <summary>NtpShuffled − Ntp, in nats: 0 when the text ignores the images.</summary>
    public double Gap => NtpShuffled - Ntp;

    /// <summary>
    /// (CsrShuffled − Csr) / Csr: how much the diffusion model's rebuild depends on the encoder's code. CSR's
    /// gradient reaches the encoder only through that dependence, so near 0 the feedback cannot correct it.
    /// </summary>
    public double? CsrGap => Csr is double own && CsrShuffled is double other && own > 0 ? (other - own) / own : null;
}

/// <summary>
/// Measures <see cref="ImageRelianceReport"/> on an <see cref="EvalSet"/>. The spread of a tensor
/// [I, T, D] over its I images is √mean((x − mean_I x)²) / √mean(x²): 0 when every image gives the same
/// values, 1 when the values are all image-dependent around a zero mean.
/// </summary>
public static class ImageReliance
{
    public static ImageRelianceReport Measure(DeemModel model, EvalSet set, StageConfig stage)
    {
        var e = set.Evaluate(model, stage, step: 0);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var encoder = new List<Tensor>();
            var rows = new List<Tensor>();
            double csr = 0, csrShuffled = 0;
            int csrBatches = 0;
            bool critic = model.Config.BuildDiffusion && !model.Config.IsLlava;
            for (int i = 0; i < set.Count; i++)
            {
                var b = set.Batches[i];
                if (b.ImageCount == 0) continue;
                if (critic && b.ImagesDec is not null && b.ImageCount > 1)
                {
                    using var forwards = NewDisposeScope();                                                    // two full forwards' tensors
                    // The same draws for both (the evaluation's seed for this batch); only the condition's image differs.
                    using var own = new Generator(EvalSet.NoiseSeed + (ulong)i);
                    csr += model.forward(BatchInput.WithWeights(b, 1.0, 1.0, 1.0, own, device: model.Device)).Csr.item<float>();
                    using var other = new Generator(EvalSet.NoiseSeed + (ulong)i);
                    var rolled = b.ImagesEnc.roll(1, 0);                                                      // [I, 3, H, W]
                    var masks = b.RegionMasks?.roll(1, 0);                                                    // [I, 1, H, W]
                    csrShuffled += model.forward(BatchInput.WithWeights(b, 1.0, 1.0, 1.0, other, imagesEnc: rolled, regionMasks: masks,
                        device: model.Device)).Csr.item<float>();
                    csrBatches++;
                }
                var vis = model.VisualTokenizer.forward(new VisualTokenizerInput(b.ImagesEnc.to(model.Device), b.RegionMasks?.to(model.Device)));
                encoder.Add(vis.EncoderTokens);                                                       // [I, 1+hw, C]
                rows.Add(model.ImageRows(vis));                                                       // [I, N, D]
            }
            if (encoder.Count == 0) throw new DeemException("the evaluation batches hold no image");
            var enc = cat(encoder.ToArray(), 0);
            return new ImageRelianceReport(e.Ntp, e.NtpShuffled, Spread(enc), Spread(cat(rows.ToArray(), 0)), enc.shape[0],
                csrBatches > 0 ? csr / csrBatches : null, csrBatches > 0 ? csrShuffled / csrBatches : null,
                e.YesNoAccuracy is double acc && e.YesNoYesRatio is double yr ? (acc, yr, e.YesNoAnswers) : null);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>√mean((x − mean over dim 0)²) / √mean(x²) of x [I, …]; 0 for fewer than 2 images.</summary>
    public static double Spread(Tensor x)
    {
        if (x.shape[0] < 2) return 0.0;
        using var scope = NewDisposeScope();
        var centred = x - x.mean([0], keepdim: true);
        double rms = x.pow(2).mean().sqrt().item<float>();
        return rms == 0 ? 0.0 : centred.pow(2).mean().sqrt().item<float>() / rms;
    }
}
