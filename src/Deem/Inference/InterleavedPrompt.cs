using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// One interleaved prompt (paper §2.3 inference): token ids with one soi + Nq placeholders per image,
/// and the images in the order of their soi tokens.
/// </summary>
/// <param name="Ids">Token ids, BOS first.</param>
/// <param name="Images">[I, 3, H, W] in [0, 1] at the encoder resolution, or null when the prompt has no image.</param>
/// <param name="RegionMasks">[I, 1, H, W] region masks (1 = inside; all ones for a whole image), or null.</param>
public sealed record InterleavedPrompt(IReadOnlyList<long> Ids, Tensor? Images = null, Tensor? RegionMasks = null)
{
    /// <summary>Number of soi tokens in <see cref="Ids"/>.</summary>
    public int CountImages(SpecialTokens tokens) => Ids.Count(i => i == tokens.Soi);
}

/// <summary>
/// Prompts batched for generation (reference §4.1: the collators left-pad): ids [B, L] padded on the
/// LEFT with the pad id, attention mask [B, L] (0 on padding), images of all rows concatenated in
/// row-major soi order, and region masks (all ones for the images of rows given without masks) when
/// any row has them. Left padding keeps every row's last token at index L−1, so one decoding step
/// appends at the same index for all rows; position ids are counted from the attention mask.
/// </summary>
public sealed record PromptBatch(Tensor Ids, Tensor AttentionMask, Tensor? Images, Tensor? RegionMasks, long[][] Rows) : IDisposable
{
    public long BatchSize => Ids.shape[0];
    public long Length => Ids.shape[1];

    /// <summary>Pads and stacks <paramref name="prompts"/>; checks each row's soi count against its images.</summary>
    public static PromptBatch Create(IReadOnlyList<InterleavedPrompt> prompts, SpecialTokens tokens, int imageTokens)
    {
        if (prompts.Count == 0) throw new ArgumentException("no prompt to generate from", nameof(prompts));
        for (int b = 0; b < prompts.Count; b++)
        {
            var p = prompts[b];
            if (p.Ids.Count == 0) throw new ArgumentException($"prompt {b} is empty", nameof(prompts));
            long given = p.Images?.shape[0] ?? 0;
            int sois = p.CountImages(tokens);
            if (given != sois)
                throw new ArgumentException($"prompt {b} has {sois} image block(s) but {given} image(s) were given", nameof(prompts));
            if (p.Images is not null && p.Images.ndim != 4)
                throw new ArgumentException($"prompt {b} images: expected [I, 3, H, W], found [{string.Join(", ", p.Images.shape)}]", nameof(prompts));
            if (p.RegionMasks is not null && (p.RegionMasks.ndim != 4 || p.RegionMasks.shape[0] != given || p.RegionMasks.shape[1] != 1))
                throw new ArgumentException($"prompt {b} region masks: expected [{given}, 1, H, W], found [{string.Join(", ", p.RegionMasks.shape)}]", nameof(prompts));
            // Every soi must be followed by its Nq placeholders inside the prompt.
            for (int i = 0; i < p.Ids.Count; i++)
                if (p.Ids[i] == tokens.Soi && (i + imageTokens >= p.Ids.Count || p.Ids[i + imageTokens] != tokens.Image))
                    throw new ArgumentException($"prompt {b}: the soi at {i} is not followed by {imageTokens} image placeholders", nameof(prompts));
        }

        int L = prompts.Max(p => p.Ids.Count);
        int B = prompts.Count;
        var ids = new long[B * L];
        var mask = new long[B * L];
        for (int b = 0; b < B; b++)
        {
            int offset = L - prompts[b].Ids.Count;
            for (int j = 0; j < L; j++)
            {
                ids[b * L + j] = j < offset ? tokens.Pad : prompts[b].Ids[j - offset];
                mask[b * L + j] = j < offset ? 0 : 1;
            }
        }

        var withImages = prompts.Where(p => p.Images is not null && p.Images.shape[0] > 0).ToList();
        Tensor? images = withImages.Count == 0 ? null : cat(withImages.Select(p => p.Images!.to_type(ScalarType.Float32)).ToArray(), 0);
        Tensor? masks = null;
        if (images is not null && prompts.Any(p => p.RegionMasks is not null))
        {
            var (H, W) = (images.shape[2], images.shape[3]);
            masks = cat(withImages.Select(p => p.RegionMasks is not null
                ? RegionMaskFiles.Resize(p.RegionMasks, H, W)
                : ones(p.Images!.shape[0], 1, H, W, device: CPU)).ToArray(), 0);                     // [I, 1, H, W]
        }
        // Built on the host; the decoder session and the image generator move it to the model's device.
        return new PromptBatch(tensor(ids, new long[] { B, L }, device: CPU), tensor(mask, new long[] { B, L }, device: CPU), images, masks,
            prompts.Select(p => p.Ids.ToArray()).ToArray());
    }

    public void Dispose()
    {
        Ids.Dispose();
        AttentionMask.Dispose();
        Images?.Dispose();
        RegionMasks?.Dispose();
    }
}
