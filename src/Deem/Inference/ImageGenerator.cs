using Deem.Diffusion;
using Deem.Diffusion.Schedulers;
using Deem.Language;
using Deem.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>Settings of image generation (reference §4.2: DEEM uses SD's DDPM scheduler, 250 steps, CFG 3.5).</summary>
/// <param name="Steps">Denoising steps.</param>
/// <param name="Scheduler">"ddpm" (ancestral, the paper's) or "ddim" (deterministic, η = 0).</param>
/// <param name="GuidanceScale">s of classifier-free guidance ε = ε_u + s·(ε_c − ε_u); 1 = the conditional prediction.</param>
/// <param name="Seed">Seed of the initial latents and of DDPM's per-step noise.</param>
public sealed record ImageGenerationOptions(int Steps = 250, string Scheduler = "ddpm", double GuidanceScale = 3.5, ulong Seed = 0)
{
    /// <summary>DEEM's defaults (DDPM, 250 steps, CFG 3.5).</summary>
    public static ImageGenerationOptions Paper { get; } = new();

    /// <summary>DDIM with 50 steps, CFG 3.5: the fast setting.</summary>
    public static ImageGenerationOptions Fast { get; } = new(Steps: 50, Scheduler: "ddim");

    public ImageGenerationOptions Validate()
    {
        if (Steps < 1) throw new ArgumentException($"image generation: steps must be ≥ 1, found {Steps}");
        if (Scheduler is not ("ddpm" or "ddim")) throw new ArgumentException($"image generation: scheduler must be ddpm or ddim, found '{Scheduler}'");
        if (GuidanceScale < 0) throw new ArgumentException($"image generation: guidance scale must be ≥ 0, found {GuidanceScale}");
        return this;
    }
}

/// <summary>One denoising step done: its index (0-based) of <paramref name="Steps"/>, the timestep, and x_{t−1}.</summary>
public sealed record DenoisingProgress(int Step, int Steps, long Timestep, Tensor Latents);

/// <summary>The diffusion condition of one image per prompt (reference §1.8).</summary>
/// <param name="Condition">[B, Nq, Dc] decoder Q-Former output over the reversed LLM context up to the image's soi.</param>
/// <param name="Features">4 × [B, 1, C, h, w]: the previous image of the document's multi-scale maps (zeros when none).</param>
/// <param name="FeatureMask">[B, 1]: 1 when there is a previous image, else 0.</param>
public sealed record ImageCondition(Tensor Condition, Tensor[] Features, Tensor FeatureMask) : IDisposable
{
    public void Dispose()
    {
        Condition.Dispose();
        foreach (var f in Features) f.Dispose();
        FeatureMask.Dispose();
    }
}

/// <summary>
/// Next-image generation (paper §2.3 inference; reference §4.2, §1.8): the LLM runs over the prompt up to
/// the image's <c>&lt;soi&gt;</c> (the image itself stands as Nq placeholders and a grey picture, which the
/// soi state cannot see), the context from the document's BOS to the soi is reversed, projected by
/// <c>context_feat_proj</c> and turned by the decoder Q-Former into the UNet condition (eval mode: no null
/// swap). The UNet then denoises from seeded Gaussian latents with classifier-free guidance against the
/// learned null embedding (<c>neg_prompt_embeds</c>): ε = ε_u + s·(ε_c − ε_u), both halves receiving the
/// MMFS features of the previous image of the document (mask 0 when there is none). The VAE decodes
/// the latents to [0, 1] pixels.
/// </summary>
public sealed class ImageGenerator
{
    readonly DeemModel model;
    readonly StableDiffusion sd;
    readonly ImageDecoder decoder;

    public ImageGenerator(DeemModel model)
    {
        this.model = model;
        sd = model.Diffusion ?? throw new ModelCapabilityException(model.Config.Name, "this model has no diffusion model (build_diffusion = false); it cannot generate images");
        decoder = model.ImageDecoder ?? throw new ModelCapabilityException(model.Config.Name, "this model has no image decoder; it cannot generate images");
        if (!ModelLoader.HasImageOutput(model))
            throw new ModelCapabilityException(model.Config.Name, "the model was loaded for text only (its UNet, VAE and image decoder have no weights); load it with image output to generate images");
        model.eval();
    }

    /// <summary>Side of the generated images (the decoder resolution).</summary>
    public int Resolution => model.Config.DecoderResolution;

    /// <summary>
    /// The condition of the image that starts at the LAST <c>&lt;soi&gt;</c> of each prompt. Each prompt's
    /// ids must end with that soi; its earlier images are given as usual.
    /// </summary>
    public ImageCondition Condition(IReadOnlyList<InterleavedPrompt> prompts)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tokens = model.Tokens;
        var config = model.Config;
        var withTarget = prompts.Select((p, b) =>
        {
            if (p.Ids.Count == 0 || p.Ids[^1] != tokens.Soi)
                throw new ArgumentException($"prompt {b} must end with <soi> (id {tokens.Soi}), the image to generate");
            var grey = full(new long[] { 1, 3, config.EncoderResolution, config.EncoderResolution }, 0.5f, device: CPU);   // host prompt
            var images = p.Images is null ? grey : cat([p.Images.to_type(ScalarType.Float32), grey], 0);
            var masks = p.RegionMasks is null ? null : cat([p.RegionMasks.to_type(ScalarType.Float32),
                ones(1, 1, p.RegionMasks.shape[2], p.RegionMasks.shape[3], device: CPU)], 0);
            return new InterleavedPrompt([.. p.Ids, .. Enumerable.Repeat((long)tokens.Image, config.ImageTokens)], images, masks);
        }).ToList();
        using var batch = PromptBatch.Create(withTarget, tokens, config.ImageTokens);
        if (batch.Length > config.Llm.MaxPositionEmbeddings)
            throw new PromptTooLongException((int)batch.Length, config.Llm.MaxPositionEmbeddings, "max_position_embeddings");

        var device = model.Device;
        var ids = batch.Ids.to(device);
        var vis = model.VisualTokenizer.forward(new VisualTokenizerInput(batch.Images!.to(device), batch.RegionMasks?.to(device)));
        var (embeds, vision) = model.PrepareInputs(ids, vis);                                         // [B, L, D]
        var hidden = model.Llm.forward(new LlamaModelInput(InputsEmbeds: embeds, AttentionMask: batch.AttentionMask.to(device), Vision: vision)); // [B, L, D]
        var ctx = ImageDecoderContext.Extract(hidden, ids, tokens.Bos, tokens.Soi);

        // The target of row b is its last image (images are numbered row-major).
        var rows = ctx.Row.cpu().data<long>().ToArray();
        var targets = Enumerable.Range(0, prompts.Count).Select(b => (long)Array.LastIndexOf(rows, b)).ToArray();
        var target = tensor(targets, device: device);                                                  // [B]
        var features = ctx.Features.index_select(0, target);                                           // [B, L_max, D]
        var mask = ctx.Mask.index_select(0, target);                                                   // [B, L_max]
        long keep = Math.Min(features.shape[1], config.ImageDecoder.MaxContextLen);                     // the states nearest the soi
        features = features.narrow(1, 0, keep);
        mask = mask.narrow(1, 0, keep);
        var cond = decoder.forward(new ImageDecoderInput(model.ProjectImageContext(features), mask)).Condition; // [B, Nq, Dc]

        var prev = ctx.PreviousImage.index_select(0, target);                                          // [B]
        var hasPrev = prev.ge(0);
        var prevIndex = prev.clamp_min(0);
        var prevFeatures = vis.Maps.Select(m =>
            (m.index_select(0, prevIndex) * hasPrev.to(m.dtype).view(-1, 1, 1, 1)).unsqueeze(1))      // [B, 1, C, h, w]
            .ToArray();
        var featureMask = hasPrev.to_type(ScalarType.Float32).unsqueeze(1);                            // [B, 1]
        return new ImageCondition(cond.MoveToOuterDisposeScope(), prevFeatures.Select(f => f.MoveToOuterDisposeScope()).ToArray(),
            featureMask.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Classifier-free guidance: one UNet pass over [unconditional; conditional] (the null embedding
    /// expanded to the batch, then the condition), both with the same MMFS features, combined as
    /// ε_u + s·(ε_c − ε_u).
    /// </summary>
    public Tensor GuidedPrediction(Tensor latents, long timestep, ImageCondition condition, double guidanceScale)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var B = latents.shape[0];
        var nullCond = decoder.NullEmbedding.to(condition.Condition.dtype).expand(B, -1, -1);             // [B, Nq, Dc]
        var x = cat([latents, latents], 0);                                                            // [2B, 4, h, w]
        var t = full(new long[] { 2 * B }, timestep, dtype: ScalarType.Int64, device: latents.device); // [2B]
        var c = cat([nullCond, condition.Condition], 0);                                               // [2B, Nq, Dc]
        var f = condition.Features.Select(m => cat([m, m], 0)).ToArray();                              // 4 × [2B, 1, C, h, w]
        var fm = cat([condition.FeatureMask, condition.FeatureMask], 0);                               // [2B, 1]
        var eps = sd.Predict(x, t, c, f, fm);                                                           // [2B, 4, h, w]
        var uncond = eps.narrow(0, 0, B);
        var cond = eps.narrow(0, B, B);
        return (uncond + guidanceScale * (cond - uncond)).MoveToOuterDisposeScope();                   // [B, 4, h, w]
    }

    /// <summary>
    /// x_T ~ N(0, I) [B, C_latent, h, w] from <paramref name="seed"/> (the scheduler's init sigma is 1), drawn on
    /// the host and moved to the model's device: a seed gives the same image on any device.
    /// </summary>
    public Tensor InitialLatents(long batch, ulong seed)
    {
        using var generator = new Generator(seed);
        var side = model.Config.LatentSide;
        using var scope = NewDisposeScope();
        return randn(new long[] { batch, model.Config.Vae.LatentChannels, side, side }, generator: generator, device: CPU)
            .to(model.Device).MoveToOuterDisposeScope();                                               // [B, C, h, w]
    }

    /// <summary>Denoises from <see cref="InitialLatents"/> under <paramref name="condition"/> and decodes: [B, 3, H, W] in [0, 1].</summary>
    public Tensor Generate(ImageCondition condition, ImageGenerationOptions options, Action<DenoisingProgress>? progress = null)
    {
        options.Validate();
        using var noGrad = no_grad();
        var B = condition.Condition.shape[0];
        var latents = InitialLatents(B, options.Seed);
        using var stepNoise = new Generator(options.Seed + 1);
        var ddpm = options.Scheduler == "ddpm" ? new DdpmScheduler(model.Config.Scheduler) : null;
        var ddim = options.Scheduler == "ddim" ? new DdimScheduler(model.Config.Scheduler) : null;
        ddpm?.SetTimesteps(options.Steps);
        ddim?.SetTimesteps(options.Steps);
        var timesteps = ddpm?.Timesteps ?? ddim!.Timesteps;
        for (int i = 0; i < timesteps.Length; i++)
        {
            var t = timesteps[i];
            using (NewDisposeScope())
            {
                var eps = GuidedPrediction(latents, t, condition, options.GuidanceScale);
                var next = ddpm is not null ? ddpm.Step(eps, t, latents, stepNoise).PrevSample : ddim!.Step(eps, t, latents).PrevSample;
                next.DetachFromDisposeScope();
                latents.Dispose();
                latents = next;
            }
            // Outside the step's scope: whatever the callback keeps belongs to the caller.
            progress?.Invoke(new DenoisingProgress(i, timesteps.Length, t, latents));
        }
        using var decodeScope = NewDisposeScope();
        var images = sd.DecodeLatents(latents);                                                         // [B, 3, H, W]
        latents.Dispose();
        return images.MoveToOuterDisposeScope();
    }

    /// <summary>Prompts ending with <c>&lt;soi&gt;</c> → images [B, 3, H, W] in [0, 1].</summary>
    public Tensor Generate(IReadOnlyList<InterleavedPrompt> prompts, ImageGenerationOptions options, Action<DenoisingProgress>? progress = null)
    {
        using var condition = Condition(prompts);
        return Generate(condition, options, progress);
    }
}
