using Deem.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.World.Pretraining;

/// <summary>
/// Stage 0c: the KL autoencoder standing in for SD 2.1's VAE (reference §1.9). Loss = mean |x̂ − x|
/// (x in [−1, 1], x̂ decoded from a posterior sample) + β · KL(q(z|x) ‖ N(0, I)) per latent element,
/// β small as in SD. <see cref="ScalingFactor"/> then measures the latent scale the way SD's 0.18215
/// was chosen: 1 / std of sampled training latents.
/// </summary>
public static class VaeTrainer
{
    public const string Name = "vae";

    public static ComponentResult Train(AutoencoderKL vae, Stage0Data data, Stage0Options options, Stage0Callbacks callbacks)
    {
        vae.train();
        foreach (var p in vae.parameters()) p.requires_grad = true;
        var images = data.VaeImages;
        var batches = new Stage0Batches((int)images.shape[0], options.VaeBatchSize, options.Seed * 7919 + 3);
        var generator = new Generator((ulong)(options.Seed * 7919 + 4));
        Tensor LossOf(int step)
        {
            var x = images.index_select(0, batches.Next()) * 2.0 - 1.0;                         // [B, 3, R, R] in [−1, 1]
            var dist = vae.Encode(x);
            var rec = vae.Decode(dist.Sample(generator));                                         // [B, 3, R, R]
            var l1 = (rec - x).abs().mean();
            var kl = (dist.Mean.pow(2) + dist.Std.pow(2) - 1.0 - dist.LogVar).mean() * 0.5;
            return l1 + options.VaeKlWeight * kl;
        }
        return Stage0Loop.Run(Name, vae.parameters().ToList(), Stage0LoopSettings.From(options, options.VaeSteps, options.VaeLearningRate),
            LossOf, callbacks);
    }

    /// <summary>1 / std of posterior samples of <paramref name="images"/> ([N, 3, R, R] in [0, 1]), rounded to 5 digits.</summary>
    public static double ScalingFactor(AutoencoderKL vae, Tensor images, int seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator((ulong)(seed * 7919 + 5));
        var parts = new List<Tensor>();
        for (long i = 0; i < images.shape[0]; i += 32)
        {
            using var batch = NewDisposeScope();                                                  // only the samples outlive a batch
            var x = images.narrow(0, i, Math.Min(32, images.shape[0] - i)) * 2.0 - 1.0;          // [b, 3, R, R]
            parts.Add(vae.Encode(x).Sample(generator).MoveToOuterDisposeScope());                 // [b, 4, h, w]
        }
        var std = cat(parts, 0).std().item<float>();
        return Math.Round(1.0 / Math.Max(std, 1e-6), 5);
    }
}
