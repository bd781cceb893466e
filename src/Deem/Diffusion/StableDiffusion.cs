using Deem.Config;
using Deem.Diagnostics;
using Deem.Diffusion.Schedulers;
using Deem.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>
/// The diffusion model D_DM that DEEM uses twice (paper §2.2; reference §1.9): for next-image
/// prediction (Eq. 3, conditioned on LLM context) and for consistency semantic regularisation
/// (Eq. 5, conditioned on the image encoder's own tokens). It holds the VAE (always frozen), the
/// UNet (frozen in DEEM, trainable in the baseline) and MMFSNet (always trainable), which adds
/// deformable-attention residuals from an image's multi-scale maps to the UNet's skip tensors.
/// Keys match the authors' wrapper: <c>vae.*</c>, <c>unet.*</c>, <c>mmfs_module.*</c>.
/// </summary>
public sealed class StableDiffusion : nn.Module
{
    private readonly AutoencoderKL vae;
    private readonly UNet2DConditionModel unet;
    private readonly MmfsNet mmfs_module;
    private readonly DdpmScheduler scheduler;

    public StableDiffusion(DeemConfig config, Generator? generator = null) : base(nameof(StableDiffusion))
    {
        vae = new AutoencoderKL(config.Vae);
        unet = new UNet2DConditionModel(config.UNet);
        // One MMFS block per skip tensor plus the mid block; each block's base side is the side of
        // the UNet feature it corrects (64, 64, 64, 32, … at 512 px), as in the reference.
        int latent = config.LatentSide;
        var sides = config.UNet.SkipStrides().Select(s => (long)(latent / s)).ToArray();
        mmfs_module = new MmfsNet(
            config.UNet.SkipChannels().Select(c => (long)c).ToArray(), config.UNet.MidChannels, config.MmfsNet,
            downsampleFactor: 1, skipBaseSides: sides, midBaseSide: latent / config.UNet.MidStride,
            posEmbedGrid: latent, generator: generator);
        scheduler = new DdpmScheduler(config.Scheduler);
        RegisterComponents();
        foreach (var p in vae.parameters()) p.requires_grad = false;
    }

    public AutoencoderKL Vae => vae;
    public UNet2DConditionModel UNet => unet;
    public MmfsNet MmfsModule => mmfs_module;
    public DdpmScheduler Scheduler => scheduler;

    /// <summary>
    /// x₀ = VAE(2·image − 1).sample · scaling_factor, without gradient (the VAE is frozen; it runs in the dtype
    /// it is held in, the latents come out in fp32). The image is mapped to [−1, 1] out of place: the authors' wrapper does it in place
    /// (<c>image.sub_(0.5).div_(0.5)</c>), so when CSR runs first NIP sees 4x − 3 (reference §0 item 12).
    /// </summary>
    /// <param name="images">[I, 3, H, W] in [0, 1]; never modified.</param>
    /// <param name="generator">Source of the posterior sample's ε_z (the global generator when null).</param>
    public Tensor EncodeLatents(Tensor images, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var eps = randn(LatentShape(images), dtype: ScalarType.Float32, device: images.device, generator: generator);
        return EncodeLatents(images, [eps])[0].MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One VAE encode of the images and one posterior sample x₀ = (μ + σ·ε_z) · scaling_factor per
    /// given ε_z: terms that denoise the same images share the encoder pass, each with its own sample.
    /// </summary>
    /// <param name="images">[I, 3, H, W] in [0, 1]; never modified.</param>
    /// <param name="latentNoises">Each [I, Cz, h, w].</param>
    public Tensor[] EncodeLatents(Tensor images, IReadOnlyList<Tensor> latentNoises) =>
        EncodeLatents(images, latentNoises.Select(eps => (eps, (Tensor?)null)).ToList());

    /// <summary>
    /// As <see cref="EncodeLatents(Tensor, IReadOnlyList{Tensor})"/>, each sample over the images at its
    /// rows ([I'] int64; null = all): ε_z is [I', Cz, h, w] and so is the sample.
    /// </summary>
    public Tensor[] EncodeLatents(Tensor images, IReadOnlyList<(Tensor Noise, Tensor? Rows)> latentNoises)
    {
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var section = StepProfiler.Time(StepProfiler.Vae);
        var pixels = images.to_type(ScalarType.Float32);                        // [I, 3, H, W] in [0, 1]
        var (mean, std) = PosteriorCache is { } cache && pixels.device_type == DeviceType.CPU
            ? cache.Posterior(pixels, LatentShape(pixels)[1..], Posterior)      // a held image is not encoded again
            : Posterior(pixels);                                                // each [I, 4, h, w] fp32
        return latentNoises.Select(n =>
        {
            var (m, s) = n.Rows is { } rows ? (mean.index_select(0, rows), std.index_select(0, rows)) : (mean, std);  // [I', 4, h, w]
            return ((m + s * n.Noise) * vae.ScalingFactor).MoveToOuterDisposeScope();                            // [I', 4, H/8, W/8]
        }).ToArray();
    }

    /// <summary>(μ, σ) in fp32, each [I, Cz, h, w], of the VAE's posterior for [I, 3, H, W] images in [0, 1] (no gradient).</summary>
    (Tensor Mean, Tensor Std) Posterior(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = images * 2.0 - 1.0;                                             // [I, 3, H, W] in [−1, 1]
        using var dist = vae.Encode(x.AsInputOf(vae));                          // the VAE may be held low
        var (mean, std) = (dist.Mean.Fp32().alias(), dist.Std.Fp32().alias());  // latents in fp32, handles that outlive dist
        return (mean.MoveToOuterDisposeScope(), std.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Posteriors of images already encoded, reused by <c>EncodeLatents</c>
    /// (and so by NIP and CSR) for images on the CPU; null encodes every image every time. The trainer sets one per
    /// run; the VAE is frozen, so a held posterior stays the VAE's.
    /// </summary>
    public VaePosteriorCache? PosteriorCache { get; set; }

    /// <summary>[I, Cz, H/f, W/f]: the latent shape of [I, 3, H, W] images.</summary>
    public long[] LatentShape(Tensor images)
    {
        long f = vae.Config.DownsampleFactor;
        return [images.shape[0], vae.Config.LatentChannels, images.shape[2] / f, images.shape[3] / f];
    }

    /// <summary>Image in [0, 1] from a scaled latent (clamped), for generation.</summary>
    public Tensor DecodeLatents(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var x = vae.Decode((latents.to_type(ScalarType.Float32) / vae.ScalingFactor).AsInputOf(vae)).Fp32();   // [I, 3, H, W] in ≈[−1, 1]
        return (x / 2.0 + 0.5).clamp(0.0, 1.0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The UNet's prediction at (x_t, t) under condition c, with MMFSNet residuals from the given
    /// image features. <paramref name="features"/>: one [I, N, C, H_l, W_l] per encoder level;
    /// <paramref name="featureMask"/>: [I, N], 0 where there is no image (first image of a document).
    /// </summary>
    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor condition, Tensor[]? features, Tensor? featureMask)
    {
        Func<UNetSkipFeatures, UNetResiduals>? hook = null;
        if (features is not null)
        {
            var mask = featureMask ?? ones(features[0].shape[0], features[0].shape[1], device: sample.device);
            hook = skips =>
            {
                using var section = StepProfiler.Time(StepProfiler.Mmfs);
                // MMFSNet (trainable) reads the skips of a possibly low-precision frozen UNet: cast at both ends.
                var r = mmfs_module.forward(new MmfsNetInput(skips.Down.Select(s => s.AsInputOf(mmfs_module)).ToArray(),
                    skips.Mid.AsInputOf(mmfs_module), features.Select(f => f.AsInputOf(mmfs_module)).ToArray(), mask));
                return new UNetResiduals(r.DownBlockResiduals.Select(d => d.AsInputOf(unet)).ToArray(), r.MidBlockResidual.AsInputOf(unet));
            };
        }
        using var unetSection = StepProfiler.Time(StepProfiler.UNet);
        // The prediction in fp32 whatever the UNet's dtype: the losses and the sampler updates read it.
        return unet.forward(new UNet2DConditionInput(sample.AsInputOf(unet), timesteps, condition.AsInputOf(unet), ResidualHook: hook)).Fp32();
    }

    /// <summary>
    /// One denoising-loss evaluation, before reduction (the inner term of Eqs. 3 and 5):
    /// ε ~ N(0, I), t ~ U{0, …, T−1} (squeezed to [200, 799] for CSR, reference §2.3),
    /// x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, and the per-element squared error between the UNet's output and
    /// its target (ε, or v for v-prediction), in fp32. Shape [I, 4, h, w].
    /// </summary>
    public Tensor DenoisingError(Tensor images, Tensor condition, Tensor[]? features, Tensor? featureMask,
        bool squeezeTimesteps, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var draws = DenoisingDraws.Sample(LatentShape(images), scheduler.Config.NumTrainTimesteps, squeezeTimesteps, generator, images.device);
        return DenoisingErrors(images, [new DenoisingTerm(condition, features, featureMask, draws)], fused: false)[0]
            .MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The per-element squared errors [I', 4, h, w] of several denoising terms over the same I images
    /// (NIP and CSR), one per term over its rows, each with its own draws. <paramref name="fused"/>: the
    /// images are encoded once and all terms go through ONE batched UNet call ([ΣI', …], per-sample
    /// timesteps, conditions and MMFSNet features); every op of the UNet and MMFSNet acts per sample, so
    /// each term's error and gradient are those of its own call. Otherwise each term encodes and denoises
    /// on its own (the authors' order). Terms whose conditions or features do not stack are run apart.
    /// </summary>
    public Tensor[] DenoisingErrors(Tensor images, IReadOnlyList<DenoisingTerm> terms, bool fused)
    {
        using var scope = NewDisposeScope();
        Tensor[] errors;
        if (fused && terms.Count > 1 && Stackable(terms))
        {
            var x0 = EncodeLatents(images, terms.Select(t => (t.Draws.LatentNoise, t.Rows)).ToList());  // K × [I'_k, 4, h, w]
            var cat0 = (Func<DenoisingTerm, Tensor> part) => torch.cat(terms.Select(part).ToArray(), 0);
            Tensor[]? features = terms[0].Features is null ? null
                : Enumerable.Range(0, terms[0].Features!.Length)
                    .Select(l => torch.cat(terms.Select(t => t.Features![l]).ToArray(), 0)).ToArray(); // [ΣI', N, C, h_l, w_l]
            var mask = features is null ? null : torch.cat(terms.Select(t => MaskOf(t)).ToArray(), 0);  // [ΣI', N]
            var err = Error(torch.cat(x0, 0), cat0(t => t.Condition), features, mask,
                cat0(t => t.Draws.Noise), cat0(t => t.Draws.Timesteps));                                 // [ΣI', 4, h, w]
            errors = err.split(x0.Select(x => x.shape[0]).ToArray(), 0);                                 // K × [I'_k, 4, h, w]
        }
        else
            errors = terms.Select(t => Error(EncodeLatents(images, [(t.Draws.LatentNoise, t.Rows)])[0], t.Condition, t.Features,
                t.FeatureMask, t.Draws.Noise, t.Draws.Timesteps)).ToArray();
        return errors.Select(e => e.MoveToOuterDisposeScope()).ToArray();
    }

    static Tensor MaskOf(DenoisingTerm t) =>
        t.FeatureMask?.to(ScalarType.Float32) ?? ones(t.Features![0].shape[0], t.Features[0].shape[1], device: t.Features[0].device);

    static bool Stackable(IReadOnlyList<DenoisingTerm> terms)
    {
        var first = terms[0];
        return terms.All(t =>
            t.Condition.shape[1] == first.Condition.shape[1] && t.Condition.dtype == first.Condition.dtype
            && (t.Features is null) == (first.Features is null)
            && (t.Features is null || (t.Features.Length == first.Features!.Length
                && t.Features.Zip(first.Features).All(p => p.First.shape.Skip(1).SequenceEqual(p.Second.shape.Skip(1))))));
    }

    /// <summary>(UNet(x_t, t, c) − target)² in fp32 for scaled latents x₀ and the draws ε, t.</summary>
    Tensor Error(Tensor x0, Tensor condition, Tensor[]? features, Tensor? featureMask, Tensor noise, Tensor t)
    {
        using var scope = NewDisposeScope();
        var xt = scheduler.AddNoise(x0, noise, t);
        var target = scheduler.TrainingTarget(x0, noise, t);
        var pred = Predict(xt, t, condition.to_type(xt.dtype), features, featureMask);
        var err = (pred.to_type(ScalarType.Float32) - target.to_type(ScalarType.Float32)).pow(2);       // [I, 4, h, w]
        return err.MoveToOuterDisposeScope();
    }
}
