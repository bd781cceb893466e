using Deem.Config;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>
/// Does a model's text depend on its images, and where along the image path is the information lost?
/// </summary>
/// <param name="Ntp">NTP of the fixed batches with their own images.</param>
/// <param name="NtpShuffled">NTP with each batch's images rolled by one (another sample's image).</param>
/// <param name="EncoderSpread">Across-image spread of the encoder tokens (CLS + stage-3 tokens).</param>
/// <param name="ImageRowSpread">Across-image spread of the rows that enter the LLM (proj_t(perceiver), or the LLaVA projector).</param>
/// <param name="Images">Images measured.</param>
public sealed record ImageRelianceReport(double Ntp, double NtpShuffled, double EncoderSpread, double ImageRowSpread, long Images)
{
    /// <summary>NtpShuffled − Ntp, in nats: 0 when the text ignores the images.</summary>
    public double Gap => NtpShuffled - Ntp;
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
            foreach (var b in set.Batches)
            {
                if (b.ImageCount == 0) continue;
                var vis = model.VisualTokenizer.forward(new VisualTokenizerInput(b.ImagesEnc.to(model.Device), b.RegionMasks?.to(model.Device)));
                encoder.Add(vis.EncoderTokens);                                                       // [I, 1+hw, C]
                rows.Add(model.ImageRows(vis));                                                       // [I, N, D]
            }
            if (encoder.Count == 0) throw new DeemException("the evaluation batches hold no image");
            var enc = cat(encoder.ToArray(), 0);
            return new ImageRelianceReport(e.Ntp, e.NtpShuffled, Spread(enc), Spread(cat(rows.ToArray(), 0)), enc.shape[0]);
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
