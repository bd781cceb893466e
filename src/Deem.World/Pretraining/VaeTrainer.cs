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

    /// <summary>Images per encoder call when the posteriors are computed.</summary>
    public const int EncodeChunk = 32;

    /// <summary>
    /// q(z|x) of every image of <paramref name="images"/> ([N, 3, R, R] in [0, 1]) in chunks of
    /// <see cref="EncodeChunk"/>, each freeing its activations: one pass of the frozen encoder gives both the
    /// scaling factor and the UNet's cached latents.
    /// </summary>
    public static VaePosteriors Posteriors(AutoencoderKL vae, Tensor images)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var means = new List<Tensor>();
        var stds = new List<Tensor>();
        for (long i = 0; i < images.shape[0]; i += EncodeChunk)
        {
            using var batch = NewDisposeScope();                                                  // only the posteriors outlive a chunk
            var dist = vae.Encode(images.narrow(0, i, Math.Min(EncodeChunk, images.shape[0] - i)) * 2.0 - 1.0);  // x in [−1, 1]
            means.Add(dist.Mean.MoveToOuterDisposeScope());
            stds.Add(dist.Std.MoveToOuterDisposeScope());
        }
        return new VaePosteriors(cat(means, 0).MoveToOuterDisposeScope(), cat(stds, 0).MoveToOuterDisposeScope());  // [N, 4, h, w] each
    }

    /// <summary>
    /// 1 / std of one posterior sample per image, rounded to 5 digits. The noise is drawn chunk by chunk
    /// (<see cref="EncodeChunk"/> rows), as sampling each encoder call's q(z|x) in turn draws it.
    /// </summary>
    public static double ScalingFactor(VaePosteriors posteriors, int seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator((ulong)(seed * 7919 + 5));
        var n = posteriors.Mean.shape[0];
        var parts = new List<Tensor>();
        for (long i = 0; i < n; i += EncodeChunk)
        {
            var mean = posteriors.Mean.narrow(0, i, Math.Min(EncodeChunk, n - i));               // [b, 4, h, w]
            var std = posteriors.Std.narrow(0, i, Math.Min(EncodeChunk, n - i));
            parts.Add(mean + std * randn(mean.shape, dtype: mean.dtype, generator: generator));   // z = μ + σ·ε
        }
        var sampleStd = cat(parts, 0).std().item<float>();
        return Math.Round(1.0 / Math.Max(sampleStd, 1e-6), 5);
    }
}

/// <summary>The frozen VAE's posterior q(z|x) of a set of images: <paramref name="Mean"/> and <paramref name="Std"/>, [N, 4, h, w] each.</summary>
public sealed record VaePosteriors(Tensor Mean, Tensor Std) : IDisposable
{
    /// <summary>
    /// Var(μ) / (Var(μ) + E[σ²]) over every latent element: the share of a sampled latent's variance that is the
    /// image's and not the posterior's noise. Near 0 the latents are noise, and no UNet can learn them or read
    /// a condition into them.
    /// </summary>
    public double SignalShare()
    {
        using var scope = NewDisposeScope();
        var signal = Mean.var().item<float>();
        var noise = Std.pow(2).mean().item<float>();
        return signal + noise > 0 ? signal / (signal + noise) : 0.0;
    }

    /// <summary>The first <paramref name="count"/> images' posteriors (views).</summary>
    public VaePosteriors Head(long count) => new(Mean.narrow(0, 0, count), Std.narrow(0, 0, count));

    public void Dispose()
    {
        Mean.Dispose();
        Std.Dispose();
    }
}
