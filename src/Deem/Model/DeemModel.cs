using Deem.Config;
using Deem.Diagnostics;
using Deem.Diffusion;
using Deem.Language;
using Deem.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>
/// One training micro-batch of interleaved image-text sequences (reference §5.1, §5.2, §5.3).
/// Images are listed in the row-major order of their <c>&lt;soi&gt;</c> tokens.
/// </summary>
/// <param name="Ids">[B, L] token ids: text, and per image <c>&lt;soi&gt;</c> + Nq placeholders.</param>
/// <param name="AttentionMask">[B, L], 0 on padding.</param>
/// <param name="ImagesEnc">[I, 3, He, We] in [0, 1], the encoder view.</param>
/// <param name="ImagesDec">[I, 3, Hd, Wd] in [0, 1], the diffusion view (NIP and CSR targets); null without diffusion.</param>
/// <param name="RegionMasks">[I, 1, He, We] region masks (stage 3), or null.</param>
/// <param name="PromptOffsets">Per row, the prompt length whose labels are not learned (SFT), or null.</param>
/// <param name="GtTextIds">[B, L] explicit targets with −100 for ignored positions (mask SFT), or null.</param>
/// <param name="NtpWeight">Per-batch override of λ_NTP (the SFT collators set 0 for text→image data).</param>
/// <param name="NipWeight">Per-batch override of λ_NIP (0 for image→text data).</param>
/// <param name="CsrWeight">Per-batch override of λ_CSR.</param>
/// <param name="Generator">Source of the diffusion terms' noise and timesteps (null: the global generator).</param>
public sealed record DeemInput(
    Tensor Ids,
    Tensor AttentionMask,
    Tensor ImagesEnc,
    Tensor? ImagesDec = null,
    Tensor? RegionMasks = null,
    IReadOnlyList<long>? PromptOffsets = null,
    Tensor? GtTextIds = null,
    double? NtpWeight = null,
    double? NipWeight = null,
    double? CsrWeight = null,
    Generator? Generator = null);

/// <summary>The loss terms of one forward (each a scalar; a term that is off is 0).</summary>
/// <param name="Loss">λ_NTP·NTP + λ_NIP·NIP + λ_CSR·CSR (paper §2.3, the stage objectives L_S1/L_S2/L_S3).</param>
/// <param name="Ntp">Next-token prediction loss (Eq. 2).</param>
/// <param name="Nip">Next-image prediction loss: the ε-MSE of denoising each image from the LLM context (Eq. 3).</param>
/// <param name="Csr">Consistent self-reconstruction: the ε-MSE of denoising each image from its own encoder tokens (Eq. 5).</param>
/// <param name="Logits">[B, L, V] text logits.</param>
public sealed record DeemOutput(Tensor Loss, Tensor Ntp, Tensor Nip, Tensor Csr, Tensor Logits);

/// <summary>
/// DEEM (paper §2; reference §1): the interleaved image-text model whose image encoder is corrected
/// by diffusion feedback. This is the one place the three losses meet:
/// <list type="bullet">
/// <item>NTP (Eq. 2): next-token cross-entropy of the LLM over text, conditioned on earlier images;</item>
/// <item>NIP (Eq. 3): the frozen UNet denoises each image conditioned on the LLM's context up to its <c>&lt;soi&gt;</c>;</item>
/// <item>CSR (Eq. 5): the same frozen UNet denoises each image conditioned on the image encoder's own
/// tokens, so its gradient corrects the encoder (and never touches the LLM).</item>
/// </list>
/// Keys equal the authors' checkpoint: <c>visual_tokenizer.*</c>, <c>mm_decoder.*</c>,
/// <c>text_decoder.*</c>, <c>image_decoder.*</c>, <c>context_feat_proj.*</c>, <c>soi_token</c>.
/// </summary>
public sealed class DeemModel : nn.Module<DeemInput, DeemOutput>
{
    readonly VisualTokenizer visual_tokenizer;
    readonly LlamaModel mm_decoder;
    readonly TextHead text_decoder;
    readonly ImageDecoder? image_decoder;
    readonly Linear? context_feat_proj;
    readonly Sequential? mm_projector;
    readonly Parameter soi_token;
    readonly DeemConfig config;
    readonly SpecialTokens tokens;

    public DeemModel(DeemConfig config, Generator? generator = null) : base(nameof(DeemModel))
    {
        config.Validate(config.Name);
        this.config = config;
        tokens = config.Tokens;
        visual_tokenizer = new VisualTokenizer(config, generator);
        // DEEM: gated MMFS cross-attention every cross_attention_frequency-th layer. LLaVA-style
        // (paper Table 5): a plain LLaMA fed by a 2-layer MLP projector over the encoder tokens.
        mm_decoder = config.IsLlava
            ? new LlamaModel(config.Llm, null, generator)
            : new LlamaModel(config.Llm, layer => new LlamaCrossAttention(config.LlmMmfs, config.Llm.RmsNormEps, generator), generator);
        text_decoder = new TextHead(config.Llm.HiddenSize, config.Llm.VocabSize, SpecialTokens.NewTokenCount,
            config.Llm.InitializerRange, generator, freezeHead: false);
        if (config.IsLlava)
            mm_projector = nn.Sequential(
                ("0", nn.Linear(config.Vision.EmbedDim, config.Llm.HiddenSize)),
                ("1", nn.GELU()),
                ("2", nn.Linear(config.Llm.HiddenSize, config.Llm.HiddenSize)));
        if (config.BuildDiffusion && !config.IsLlava)
        {
            image_decoder = new ImageDecoder(config.ImageDecoder, generator);
            context_feat_proj = nn.Linear(config.Llm.HiddenSize, config.Llm.HiddenSize);
        }
        soi_token = MultimodalEmbedding.CreateSoiToken(config.Llm.HiddenSize);
        RegisterComponents();
    }

    public DeemConfig Config => config;
    public SpecialTokens Tokens => tokens;

    /// <summary>
    /// NTP's labels [B, L−1] of an input: the collator's targets where it gives them (referring/mask SFT), else the
    /// DEEM rules over the ids (<see cref="NextTokenLoss.Labels"/>).
    /// </summary>
    public Tensor TextLabels(DeemInput input) => input.GtTextIds is not null
        ? NextTokenLoss.ShiftGiven(input.GtTextIds)
        : NextTokenLoss.Labels(input.Ids, input.AttentionMask, tokens, input.PromptOffsets);

    public VisualTokenizer VisualTokenizer => visual_tokenizer;
    public LlamaModel Llm => mm_decoder;
    public TextHead TextHead => text_decoder;
    public ImageDecoder? ImageDecoder => image_decoder;
    public StableDiffusion? Diffusion => visual_tokenizer.Diffusion;
    /// <summary>The device the model's weights live on (see <see cref="PlacementPolicy"/>).</summary>
    public Device Device => soi_token.device;

    /// <summary>
    /// NIP and CSR in one VAE encode and one batched UNet call (default), or each on its own as the
    /// authors run them. Both give the same losses and gradients on the same draws; the separate
    /// path stays for the equivalence test and the step benchmark.
    /// </summary>
    public bool FuseDiffusionTerms { get; set; } = true;

    /// <summary>
    /// NIP denoises only the images with context (default); the authors denoise every image and give
    /// those without context weight 0. Same loss and gradients on the same draws (the off path stays for
    /// the equivalence test and the step benchmark's authors'-order variant).
    /// </summary>
    public bool NipSkipsImagesWithoutContext { get; set; } = true;

    /// <summary>
    /// <c>context_feat_proj</c> applied to extracted image-decoder context [B_I, L_max, D] (reference §1.8
    /// step 3), for generation; throws when the model was built without diffusion.
    /// </summary>
    public Tensor ProjectImageContext(Tensor contextFeatures) =>
        (context_feat_proj ?? throw new InvalidOperationException($"model '{config.Name}' has no image decoder (build_diffusion = false)"))
        .forward(contextFeatures.AsInputOf(context_feat_proj));

    /// <summary>The encoder maps the LLM's MMFS reads: the last <c>n_levels</c> of the 4 (c3, c4, c5 in the paper).</summary>
    public (Tensor Values, (long H, long W)[] Shapes) LlmVisionValues(Tensor[] maps)
    {
        var used = maps.Skip(maps.Length - (int)config.LlmMmfs.NLevels).ToArray();
        var shapes = used.Select(m => (m.shape[2], m.shape[3])).ToArray();
        var values = cat(used.Select(m => m.flatten(2).transpose(1, 2)).ToArray(), 1);   // [I, Σ h·w, C]
        return (values, shapes);
    }

    /// <summary>
    /// The rows that replace each image's placeholders: proj_t(perceiver) [I, Nq, D] (DEEM), or the
    /// MLP projector over the encoder tokens [I, 1+hw, D] (LLaVA-style).
    /// </summary>
    public Tensor ImageRows(VisualTokenizerOutput vis) =>
        mm_projector is not null ? mm_projector.forward(vis.EncoderTokens) : vis.TextTokens;

    /// <summary>
    /// Input embeddings and vision states of an interleaved batch (reference §1.5, §1.6): the text
    /// embeddings with each image's proj_t rows at its placeholders and <c>soi_token</c> added at
    /// every <c>&lt;soi&gt;</c>, plus the per-token image visibility (earlier images of the same document).
    /// </summary>
    public (Tensor Embeds, MmfsVisionStates? Vision) PrepareInputs(Tensor ids, VisualTokenizerOutput? vis)
    {
        var text = mm_decoder.EmbedTokens(ids);                                                         // [B, L, D]
        var imageRows = vis is null ? null : ImageRows(vis).to(text.dtype);                         // trainable rows into a (maybe low) frozen LLM
        var embeds = MultimodalEmbedding.Build(text, ids, imageRows, soi_token, tokens);              // [B, L, D]
        if (vis is null || mm_projector is not null) return (embeds, null);
        var layout = ImageLayout.FromIds(ids, tokens);
        var (values, shapes) = LlmVisionValues(vis.Maps);
        return (embeds, layout.VisionStates(values, shapes));
    }

    public override DeemOutput forward(DeemInput input)
    {
        using var scope = NewDisposeScope();
        var ids = input.Ids;
        var (B, L) = (ids.shape[0], ids.shape[1]);
        double wNtp = input.NtpWeight ?? config.NtpWeight;
        double wNip = input.NipWeight ?? config.NipWeight;
        double wCsr = input.CsrWeight ?? config.CsrWeight;
        var zero = zeros(Array.Empty<long>(), device: ids.device);

        // 1. Visual tokenizer: ConvNeXt + adapters → Q-Former → proj_t / proj_i (reference §1.3).
        long I = input.ImagesEnc.shape[0];
        var vis = I > 0 ? visual_tokenizer.forward(new VisualTokenizerInput(input.ImagesEnc, input.RegionMasks)) : null;

        // 2. LLM over the interleaved embeddings, MMFS cross-attention on the visible images (§1.5-1.6).
        // 3. NTP, Eq. 2 (ignore rules of §2.1).
        Tensor hidden, logits, ntp;
        using (StepProfiler.Time(StepProfiler.Llm))
        {
            var (embeds, vision) = PrepareInputs(ids, vis);
            hidden = mm_decoder.forward(new LlamaModelInput(InputsEmbeds: embeds, AttentionMask: input.AttentionMask,
                Vision: vision));                                                                         // [B, L, D]
            logits = text_decoder.forward(hidden);                                                        // [B, L, V]
            ntp = wNtp > 0 ? NextTokenLoss.Compute(logits, TextLabels(input)) : zero;
        }

        var sd = visual_tokenizer.Diffusion;
        var nip = zero;
        var csr = zero;
        if (sd is not null && vis is not null && input.ImagesDec is not null)
        {
            // 4. NIP, Eq. 3: condition = decoder Q-Former over the LLM context up to each <soi>
            //    (reversed, projected, + 1-D sin-cos; 10 % null swap in training), MMFS features of
            //    the previous image in the document. First-image / no-context images weigh 0, and
            //    the mean runs over all elements (reference §2.2). The authors denoise those images
            //    too and multiply their error by 0; here they are left out of the UNet call and the
            //    sum is divided by all elements: the same loss and gradient, fewer UNet samples.
            // 5. CSR, Eq. 5: the same frozen UNet must rebuild each image from the encoder's own
            //    tokens proj_i(perceiver(encoder)) plus the image's own multi-scale maps through
            //    MMFSNet; t squeezed to [200, 799]; masked mean in region mode (§2.3). No CFG swap.
            // Both terms denoise the same images: one VAE encode, one batched UNet call [I' + I, …]
            // (FuseDiffusionTerms), each term with its own draws, in the order NIP then CSR.
            var terms = new List<DenoisingTerm>();
            var latentShape = sd.LatentShape(input.ImagesDec);
            long T = sd.Scheduler.Config.NumTrainTimesteps;
            long nipElements = 0;                                                                       // I·Cz·h·w
            Tensor? isCondImage = null;                                                                 // [I]
            if (wNip > 0 && image_decoder is not null)
            {
                ImageDecoderOutput dec;
                Tensor hasPrev, prevIndex;
                using (StepProfiler.Time(StepProfiler.QFormer))
                {
                    var ctx = ImageDecoderContext.Extract(hidden, ids, tokens.Bos, tokens.Soi);
                    var feats = context_feat_proj!.forward(ctx.Features.AsInputOf(context_feat_proj));   // [I, Lmax, D]
                    dec = image_decoder!.forward(new ImageDecoderInput(feats, ctx.Mask, input.Generator));
                    hasPrev = ctx.PreviousImage.ge(0);                                                   // [I]
                    prevIndex = ctx.PreviousImage.clamp_min(0);
                }
                var prevFeatures = vis.Maps.Select(m =>
                    (m.index_select(0, prevIndex) * hasPrev.to(m.dtype).view(-1, 1, 1, 1)).unsqueeze(1))  // [I, 1, C, h, w]
                    .ToArray();
                // Drawn for all I images (the generator advances as the authors' code has it), kept for the I' with context.
                var draws = DenoisingDraws.Sample(latentShape, T, squeeze: false, input.Generator, ids.device);
                isCondImage = dec.IsCondImage;
                var rows = isCondImage.nonzero().view(-1);                                              // [I']
                nipElements = latentShape.Aggregate(1L, (a, b) => a * b);
                if (rows.shape[0] == I || !NipSkipsImagesWithoutContext)
                    terms.Add(new DenoisingTerm(dec.Condition, prevFeatures, hasPrev.to(ScalarType.Float32).unsqueeze(1), draws));
                else if (rows.shape[0] > 0)
                    terms.Add(new DenoisingTerm(dec.Condition.index_select(0, rows),
                        prevFeatures.Select(f => f.index_select(0, rows)).ToArray(),                    // [I', 1, C, h, w]
                        hasPrev.to(ScalarType.Float32).unsqueeze(1).index_select(0, rows),              // [I', 1]
                        draws.Select(rows), rows));
            }
            bool hasNip = terms.Count > 0;
            if (wCsr > 0)
            {
                var ownFeatures = vis.Maps.Select(m => m.unsqueeze(1)).ToArray();                       // [I, 1, C, h, w]
                terms.Add(new DenoisingTerm(vis.DiffusionCond, ownFeatures, ones(I, 1, device: ids.device),
                    DenoisingDraws.Sample(latentShape, T, squeeze: true, input.Generator, ids.device)));
            }
            var errors = sd.DenoisingErrors(input.ImagesDec, terms, FuseDiffusionTerms);                // each [I', 4, h, w]
            if (hasNip && !NipSkipsImagesWithoutContext)
                nip = (errors[0] * isCondImage!.to(errors[0].dtype).view(-1, 1, 1, 1)).mean();        // the authors' zero-weighted mean
            else if (hasNip)
                nip = errors[0].sum() / nipElements;                                                    // mean over all I images, the others' error 0
            if (wCsr > 0)
                csr = DeemLosses.MaskedMean(errors[^1], input.RegionMasks);
        }

        var loss = wNtp * ntp + wNip * nip + wCsr * csr;
        return new DeemOutput(loss.MoveToOuterDisposeScope(), ntp.MoveToOuterDisposeScope(), nip.MoveToOuterDisposeScope(),
            csr.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
    }
}
