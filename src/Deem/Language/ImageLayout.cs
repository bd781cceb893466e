using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// Where the images of a batch sit and who may see them (reference §1.6,
/// <c>_prepare_mmfs_features_for_mm_decoder</c>): image n of row b is the n-th <c>&lt;soi&gt;</c> of
/// that row, and token l may attend to it iff <c>soi_n + 1 &gt; bos(l)</c> and <c>soi_n + 1 ≤ l</c>, where
/// bos(l) is the index of the nearest BOS at or before l (−1 if none). In words: images that started
/// earlier in the same document, including the image's own placeholder tokens; never a later image,
/// never another document's. Images are numbered over the batch in row-major order, the order of
/// <c>vis_embed</c>.
/// </summary>
/// <param name="Visible">[B, L, N] bool, N = the most images any row holds.</param>
/// <param name="ImagesPerSequence">[B] image count of each row.</param>
/// <param name="Rows">[B_I] row of each image.</param>
/// <param name="Slots">[B_I] slot (index within its row) of each image.</param>
/// <param name="SoiPositions">[B_I] position of each image's soi within its row.</param>
public sealed record ImageLayout(Tensor Visible, long[] ImagesPerSequence, long[] Rows, long[] Slots, long[] SoiPositions)
{
    /// <summary>Total images in the batch (B_I).</summary>
    public int ImageCount => Rows.Length;

    /// <summary>Slots per row (N).</summary>
    public long MaxImages => Visible.shape[2];

    /// <summary>Finds the images of <paramref name="ids"/> [B, L] and builds the visibility mask.</summary>
    public static ImageLayout FromIds(Tensor ids, SpecialTokens tokens)
    {
        using var scope = NewDisposeScope();
        if (ids.ndim != 2) throw new ArgumentException($"ids: expected [B, L], found [{string.Join(", ", ids.shape)}]", nameof(ids));
        var (B, L) = (ids.shape[0], ids.shape[1]);
        var host = ids.to(CPU).to_type(ScalarType.Int64).data<long>().ToArray();

        var perRow = new long[B];
        var rows = new List<long>();
        var slots = new List<long>();
        var sois = new List<long>();
        for (long b = 0; b < B; b++)
            for (long l = 0; l < L; l++)
                if (host[b * L + l] == tokens.Soi)
                {
                    rows.Add(b);
                    slots.Add(perRow[b]++);
                    sois.Add(l);
                }
        var N = B == 0 ? 0 : perRow.Max();

        // image_pos[b, n] = soi + 1 of image n, or -1 for an empty slot.
        var imagePosHost = Enumerable.Repeat(-1L, (int)(B * N)).ToArray();
        for (var i = 0; i < rows.Count; i++)
            imagePosHost[rows[i] * N + slots[i]] = sois[i] + 1;
        var imagePos = tensor(imagePosHost, [B, N], device: ids.device);                           // [B, N]

        var index = arange(L, dtype: ScalarType.Int64, device: ids.device).unsqueeze(0).expand(B, L); // [B, L]
        var nearestBos = index.masked_fill(ids.ne(tokens.Bos), -1).cummax(1).values;             // [B, L]

        var pos = imagePos.unsqueeze(1);                                                          // [B, 1, N]
        var visible = pos.gt(nearestBos.unsqueeze(2))                                             // [B, L, N]
            .logical_and(pos.le(index.unsqueeze(2)))
            .logical_and(pos.ne(-1));
        return new ImageLayout(visible.MoveToOuterDisposeScope(), perRow, rows.ToArray(), slots.ToArray(), sois.ToArray());
    }

    /// <summary>
    /// Scatters per-image tensors [B_I, ...] (batch image order) into row slots [B, N, ...], zeros in
    /// empty slots; differentiable.
    /// </summary>
    public Tensor ToSlots(Tensor perImage)
    {
        using var scope = NewDisposeScope();
        if (perImage.shape[0] != ImageCount)
            throw new ArgumentException($"per-image tensor: expected {ImageCount} images, found {perImage.shape[0]}", nameof(perImage));
        var B = ImagesPerSequence.Length;
        var N = MaxImages;
        var rest = perImage.shape.Skip(1).ToArray();
        var flat = zeros([B * N, .. rest], dtype: perImage.dtype, device: perImage.device);      // [B·N, ...]
        if (ImageCount > 0)
        {
            var target = Rows.Zip(Slots, (r, s) => r * N + s).ToArray();
            flat = flat.index_copy(0, tensor(target, device: perImage.device), perImage);
        }
        return flat.view([B, N, .. rest]).MoveToOuterDisposeScope();                             // [B, N, ...]
    }

    /// <summary>The MMFS vision states for the LLM: per-image values [B_I, S, Dv] put in row slots, with this mask.</summary>
    public MmfsVisionStates VisionStates(Tensor perImageValues, (long H, long W)[] spatialShapes)
    {
        var S = spatialShapes.Sum(s => s.H * s.W);
        if (perImageValues.ndim != 3 || perImageValues.shape[1] != S)
            throw new ArgumentException(
                $"values: expected [B_I, S={S}, Dv], found [{string.Join(", ", perImageValues.shape)}]", nameof(perImageValues));
        return new MmfsVisionStates(ToSlots(perImageValues), spatialShapes, Visible);
    }
}
