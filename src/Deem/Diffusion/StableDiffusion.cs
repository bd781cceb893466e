using Deem.Config;
using Deem.Diffusion.Schedulers;
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
    /// x₀ = VAE(2·image − 1).sample · scaling_factor, without gradient (the VAE is frozen and run
    /// in fp32). The image is mapped to [−1, 1] out of place: the authors' wrapper does it in place
    /// (<c>image.sub_(0.5).div_(0.5)</c>), so when CSR runs first NIP sees 4x − 3 (reference §0 item 12).
    /// </summary>
    /// <param name="images">[I, 3, H, W] in [0, 1]; never modified.</param>
    /// <param name="generator">Random source of the latent-distribution sample (null: the global RNG).</param>
    public Tensor EncodeLatents(Tensor images, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = images.to_type(ScalarType.Float32) * 2.0 - 1.0;                 // [I, 3, H, W] in [−1, 1]
        using var dist = vae.Encode(x);
        var z = dist.Sample(generator) * vae.ScalingFactor;                       // [I, 4, H/8, W/8]
        return z.MoveToOuterDisposeScope();
    }

    /// <summary>Image in [0, 1] from a scaled latent (clamped), for generation.</summary>
    public Tensor DecodeLatents(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var x = vae.Decode(latents.to_type(ScalarType.Float32) / vae.ScalingFactor);   // [I, 3, H, W] in ≈[−1, 1]
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
                var r = mmfs_module.forward(new MmfsNetInput(skips.Down.ToArray(), skips.Mid, features, mask));
                return new UNetResiduals(r.DownBlockResiduals, r.MidBlockResidual);
            };
        }
        return unet.forward(new UNet2DConditionInput(sample, timesteps, condition, ResidualHook: hook));
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
        var x0 = EncodeLatents(images, generator);                                                     // [I, 4, h, w]
        var noise = randn(x0.shape, generator: generator, device: x0.device);
        var t = randint(0, scheduler.Config.NumTrainTimesteps, new[] { x0.shape[0] }, generator: generator,
            dtype: ScalarType.Int64, device: x0.device);                                               // [I]
        if (squeezeTimesteps) t = CsrTimesteps.Squeeze(t);
        var xt = scheduler.AddNoise(x0, noise, t);
        var target = scheduler.Config.PredictionType switch
        {
            SchedulerConfig.Epsilon => noise,
            SchedulerConfig.VPrediction => scheduler.GetVelocity(x0, noise, t),
            var p => throw new DeemConfigException("scheduler", "prediction_type", $"training supports epsilon and v_prediction, found '{p}'"),
        };
        var pred = Predict(xt, t, condition.to_type(xt.dtype), features, featureMask);
        var err = (pred.to_type(ScalarType.Float32) - target.to_type(ScalarType.Float32)).pow(2);       // [I, 4, h, w]
        return err.MoveToOuterDisposeScope();
    }
}
