using Deem.Config;
using Deem.Diffusion;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diagnostics;

/// <summary>The sizes of one stage-1 micro-batch that set its FLOPs.</summary>
/// <param name="Rows">B sequences.</param>
/// <param name="Length">L tokens per sequence (padded).</param>
/// <param name="Images">I images.</param>
/// <param name="MaxImagesPerRow">N: the image slots per row the LLM's MMFS reads.</param>
/// <param name="MaxContext">L_max: the longest image-decoder context (BOS … &lt;soi&gt;).</param>
/// <param name="EncoderSide">Encoder image side.</param>
/// <param name="DecoderSide">Diffusion image side.</param>
/// <param name="ImagesWithContext">The images with more context than BOS + &lt;soi&gt;: the only ones NIP denoises (null: all <paramref name="Images"/>).</param>
public sealed record StepShape(long Rows, long Length, long Images, long MaxImagesPerRow, long MaxContext, long EncoderSide, long DecoderSide,
    long? ImagesWithContext = null)
{
    /// <summary>The images NIP denoises.</summary>
    public long NipImages => ImagesWithContext ?? Images;

    /// <summary>The shape of a batch: rows, length, and the image layout read from the ids.</summary>
    public static StepShape Of(Tensor ids, long images, long encoderSide, long decoderSide, long bos, long soi)
    {
        var (B, L) = (ids.shape[0], ids.shape[1]);
        // The images and their decoder contexts as the model extracts them (ImageDecoderContext).
        var found = ImageDecoderContext.Locate(ids.data<long>().ToArray(), B, L, bos, soi);
        var lengths = found.Select(x => x.Soi - x.Bos + 1).ToList();
        long maxPerRow = found.GroupBy(x => x.Row).Select(g => (long)g.Count()).DefaultIfEmpty(0).Max();
        long maxContext = lengths.DefaultIfEmpty(0).Max();
        long withContext = lengths.Count(ImageDecoderContext.HasContext);
        return new StepShape(B, L, images, maxPerRow, maxContext, encoderSide, decoderSide, withContext);
    }
}

/// <summary>A stage-1 micro-batch's training FLOPs per module with and without CSR (<see cref="StepFlops.CsrCost"/>).</summary>
/// <param name="ImagesPerRow">Images in each row of the micro-batch.</param>
/// <param name="WithCsr">Per <see cref="StepProfiler"/> module, NTP + NIP + CSR.</param>
/// <param name="WithoutCsr">The same micro-batch with λ_CSR = 0.</param>
public sealed record CsrFlops(long ImagesPerRow, IReadOnlyDictionary<string, double> WithCsr, IReadOnlyDictionary<string, double> WithoutCsr)
{
    /// <summary>Step FLOPs with CSR over without.</summary>
    public double Ratio => WithCsr.Values.Sum() / WithoutCsr.Values.Sum();
}

/// <summary>
/// Analytic FLOPs of one DEEM training micro-batch per module (2 FLOPs per multiply-add of every
/// matmul and convolution, and of the attention products; norms, activations and the deformable
/// sampling are not counted). A step's training FLOPs follow the usual model-FLOPs convention:
/// forward + backward = 3 × forward for every module on the gradient path, 1 × for the VAE, which runs
/// without gradient.
/// </summary>
public static class StepFlops
{
    /// <summary>Forward FLOPs per <see cref="StepProfiler"/> module name.</summary>
    /// <param name="config">The model.</param>
    /// <param name="diffusion">The model's diffusion part (its UNet and VAE are counted layer by layer), or null.</param>
    /// <param name="shape">The batch.</param>
    /// <param name="nip">NIP on (one UNet sample per image with context).</param>
    /// <param name="csr">CSR on (one more UNet sample per image).</param>
    /// <param name="vaeEncodes">VAE encodes of the I target images (1 fused, 2 separate).</param>
    public static Dictionary<string, double> Forward(DeemConfig config, StableDiffusion? diffusion, StepShape shape, bool nip, bool csr, int vaeEncodes)
    {
        var f = new Dictionary<string, double>(StringComparer.Ordinal);
        void Add(string module, double flops) => f[module] = f.GetValueOrDefault(module) + flops;
        long I = shape.Images, N = shape.Rows * shape.Length;

        // Encoder: ConvNeXt stem, stages (downsample + blocks of depthwise k×k conv and MLP), adapters.
        var trunk = config.Vision.Trunk;
        var mapSides = new long[4];
        long side = shape.EncoderSide / trunk.PatchSize;
        Add(StepProfiler.Encoder, 2.0 * I * trunk.InChans * trunk.PatchSize * trunk.PatchSize * trunk.Dims[0] * side * side);
        for (int i = 0; i < 4; i++)
        {
            if (i > 0) { side /= 2; Add(StepProfiler.Encoder, 2.0 * I * trunk.Dims[i - 1] * 4 * trunk.Dims[i] * side * side); }
            double px = (double)I * side * side, c = trunk.Dims[i];
            Add(StepProfiler.Encoder, trunk.Depths[i] * (2.0 * px * trunk.KernelSize * trunk.KernelSize * c + 2.0 * 2 * px * c * c * trunk.MlpRatio));
            Add(StepProfiler.Encoder, 2.0 * px * c * config.Vision.EmbedDim);                                       // adapter_c{i+2}
            mapSides[i] = side;
        }
        long E = config.Vision.EmbedDim, S = 1 + mapSides[2] * mapSides[2];                                        // CLS + stage-3 tokens

        // Q-Formers: the visual one over the encoder tokens (+ pos_proj, proj_t, proj_i), the decoder one over the LLM context.
        var q = config.Perceiver;
        Add(StepProfiler.QFormer, QFormer(q, I, S) + 2.0 * I * S * E * E
            + 2.0 * I * q.NumQueries * q.HiddenSize * (config.Llm.HiddenSize + config.UNet.CrossAttentionDim));
        var llm = config.Llm;
        long D = llm.HiddenSize;
        if (nip && config.BuildDiffusion && !config.IsLlava)
            Add(StepProfiler.QFormer, QFormer(config.ImageDecoder.PerceiverConfig, I, shape.MaxContext) + 2.0 * I * shape.MaxContext * D * D);

        // LLM: attention projections, scores and values, SwiGLU MLP, text head.
        long kv = (long)llm.KeyValueHeads * llm.HeadDim;
        double layer = 2.0 * N * (2 * D * D + 2 * D * kv) + 2.0 * 2 * shape.Rows * shape.Length * shape.Length * D
                       + 2.0 * 3 * N * D * llm.IntermediateSize;
        Add(StepProfiler.Llm, llm.NumHiddenLayers * layer + 2.0 * N * D * llm.VocabSize);

        // MMFS: the LLM's gated cross-attention layers over the last n_levels maps, and MMFSNet's blocks.
        if (!config.IsLlava)
        {
            var m = config.LlmMmfs;
            long values = mapSides.Skip(4 - (int)m.NLevels).Sum(s => s * s);
            int layers = Enumerable.Range(0, llm.NumHiddenLayers).Count(llm.HasCrossAttention);
            Add(StepProfiler.Mmfs, layers * Mmfs(m, N, shape.Rows * shape.MaxImagesPerRow * values));
        }
        if (diffusion is null || !(nip || csr)) return f;
        long samples = (nip ? shape.NipImages : 0) + (csr ? I : 0);
        var u = config.UNet;
        long latent = shape.DecoderSide / config.Vae.DownsampleFactor;
        long netValues = mapSides.Take((int)config.MmfsNet.NLevels).Sum(s => s * s);
        var skipChannels = u.SkipChannels();
        var skipStrides = u.SkipStrides();
        for (int i = 0; i < skipChannels.Length; i++)
        {
            long px = latent / skipStrides[i];
            Add(StepProfiler.Mmfs, Mmfs(config.MmfsNet with { DQuery = skipChannels[i], DOut = skipChannels[i] }, samples * px * px, samples * netValues)
                                   + 2.0 * samples * px * px * skipChannels[i] * skipChannels[i]);              // zero conv
        }
        long midPx = latent / u.MidStride;
        Add(StepProfiler.Mmfs, Mmfs(config.MmfsNet with { DQuery = u.MidChannels, DOut = u.MidChannels }, samples * midPx * midPx, samples * netValues)
                               + 2.0 * samples * midPx * midPx * u.MidChannels * u.MidChannels);

        Add(StepProfiler.UNet, UNetForward(diffusion.UNet, samples, latent, config.ImageTokens));
        Add(StepProfiler.Vae, vaeEncodes * VaeEncoder(diffusion.Vae, I, shape.DecoderSide));
        return f;
    }

    /// <summary>
    /// What CSR adds to a stage-1 micro-batch of <paramref name="rows"/> × <paramref name="length"/> tokens by
    /// the count of <see cref="Training"/>, for each number of images per row: one document per row, its
    /// images evenly spaced (the first opens the document, so NIP denoises the others; the last one's
    /// decoder context runs from BOS to its &lt;soi&gt;), every image denoised once more for CSR.
    /// </summary>
    public static IReadOnlyList<CsrFlops> CsrCost(DeemConfig config, StableDiffusion diffusion, long rows, long length,
        long encoderSide, long decoderSide, IEnumerable<long> imagesPerRow) =>
        imagesPerRow.Select(n =>
        {
            if (n < 1) throw new ArgumentOutOfRangeException(nameof(imagesPerRow), n, "must be ≥ 1");
            var shape = new StepShape(rows, length, rows * n, n, length * n / (n + 1), encoderSide, decoderSide, rows * (n - 1));
            return new CsrFlops(n, Training(Forward(config, diffusion, shape, nip: true, csr: true, vaeEncodes: 1)),
                Training(Forward(config, diffusion, shape, nip: true, csr: false, vaeEncodes: 1)));
        }).ToList();

    /// <summary>Forward + backward: 3 × forward on the gradient path, 1 × for the VAE.</summary>
    public static Dictionary<string, double> Training(IReadOnlyDictionary<string, double> forward) =>
        forward.ToDictionary(kv => kv.Key, kv => kv.Key == StepProfiler.Vae ? kv.Value : 3 * kv.Value, StringComparer.Ordinal);

    static double QFormer(QFormerConfig q, long images, long sourceTokens)
    {
        double nq = (double)images * q.NumQueries, d = q.HiddenSize, flops = 0;
        for (int layer = 0; layer < q.NumHiddenLayers; layer++)
        {
            flops += 2 * nq * 4 * d * d + 2.0 * 2 * images * q.NumQueries * q.NumQueries * d;                       // self-attention
            if (q.CrossAttentionFrequency > 0 && layer % q.CrossAttentionFrequency == 0)
                flops += 2 * nq * 2 * d * d + 2.0 * images * sourceTokens * 2 * q.EncoderHiddenSize * d
                         + 2.0 * 2 * images * q.NumQueries * sourceTokens * d;                                       // cross-attention
            flops += 2 * nq * 2 * d * q.IntermediateSize;                                                            // FFN
        }
        return flops;
    }

    /// <summary>MMFS: the query-side heads over <paramref name="queries"/>, value_proj over <paramref name="valueTokens"/>, output_proj.</summary>
    static double Mmfs(MmfsConfig m, double queries, double valueTokens) =>
        2 * queries * (m.DQuery * m.DQuery + m.DQuery * m.NHeads * m.NPoints * 2 + m.DQuery * m.NHeads * m.NLevels * (m.NPoints + 1)
                       + m.InnerDim * m.DOut)
        + 2 * valueTokens * m.DValue * m.InnerDim;

    /// <summary>Forward FLOPs of one UNet call: every conv and linear at the resolution it runs at, plus the attention products.</summary>
    /// <param name="unet">The UNet.</param>
    /// <param name="batch">Samples in the call.</param>
    /// <param name="latent">Latent side.</param>
    /// <param name="conditionTokens">Condition tokens (cross-attention keys).</param>
    public static double UNetForward(UNet2DConditionModel unet, long batch, long latent, long conditionTokens)
    {
        int n = unet.Config.BlockOutChannels.Length;
        long Side(string name)
        {
            var p = name.Split('.');
            if (p.Length < 3) return latent;
            int level = p[0] switch
            {
                "down_blocks" => int.Parse(p[1]) + (p[2] == "downsamplers" ? 1 : 0),
                "mid_block" => n - 1,
                "up_blocks" => n - 1 - int.Parse(p[1]) - (p[2] == "upsamplers" ? 1 : 0),
                _ => 0,
            };
            return latent >> level;
        }
        double flops = 0;
        foreach (var (name, module) in unet.named_modules())
        {
            long s = Side(name);
            if (name.EndsWith("attn1.to_q", StringComparison.Ordinal) && module is Linear a1)
                flops += 2.0 * 2 * batch * s * s * s * s * a1.weight!.shape[0];                                     // self: QKᵀ, AV
            if (name.EndsWith("attn2.to_q", StringComparison.Ordinal) && module is Linear a2)
                flops += 2.0 * 2 * batch * s * s * conditionTokens * a2.weight!.shape[0];                           // cross: QKᵀ, AV
            double positions = name.Contains("time_emb", StringComparison.Ordinal) ? batch
                : name.EndsWith("attn2.to_k", StringComparison.Ordinal) || name.EndsWith("attn2.to_v", StringComparison.Ordinal) ? batch * conditionTokens
                : batch * s * s;
            flops += module switch
            {
                Conv2d c => 2 * positions * c.weight!.numel(),
                Linear l => 2 * positions * l.weight!.numel(),
                _ => 0,
            };
        }
        return flops;
    }

    /// <summary>The VAE encoder (+ quant_conv) at the resolution each layer runs at, plus the mid-block attention.</summary>
    static double VaeEncoder(AutoencoderKL vae, long images, long side)
    {
        int n = vae.Config.BlockOutChannels.Length;
        double flops = 0;
        foreach (var (name, module) in vae.named_modules())
        {
            if (!name.StartsWith("encoder.", StringComparison.Ordinal) && name != "quant_conv") continue;
            var p = name.Split('.');
            int level = p.Length > 2 && p[1] == "down_blocks" ? int.Parse(p[2]) + (p.Length > 3 && p[3] == "downsamplers" ? 1 : 0)
                : p.Length > 1 && p[1] == "conv_in" ? 0 : n - 1;
            long s = side >> level;
            if (name.EndsWith("to_q", StringComparison.Ordinal) && module is Linear q)
                flops += 2.0 * 2 * images * s * s * s * s * q.weight!.shape[0];
            flops += module switch
            {
                Conv2d c => 2.0 * images * s * s * c.weight!.numel(),
                Linear l => 2.0 * images * s * s * l.weight!.numel(),
                _ => 0,
            };
        }
        return flops;
    }
}
