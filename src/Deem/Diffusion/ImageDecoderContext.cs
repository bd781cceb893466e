using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>The per-image LLM context the image decoder is conditioned on (reference §1.8 steps 1–5).</summary>
/// <param name="Features">[B_I, L_max, D] hidden states from the image's nearest BOS through its <c>&lt;soi&gt;</c>, reversed (the <c>&lt;soi&gt;</c> state first), zero-padded.</param>
/// <param name="Mask">[B_I, L_max] int64: 1 on the first L_i positions, 0 on padding.</param>
/// <param name="Lengths">[B_I] int64 context lengths L_i = soi − bos + 1.</param>
/// <param name="IsCondImage">[B_I] bool: L_i &gt; 2, i.e. more context than <c>&lt;s&gt;&lt;soi&gt;</c> (images that open a document get no NIP loss).</param>
/// <param name="PreviousImage">[B_I] int64: index of the image immediately before this one in the same document, or −1 (its multi-scale maps feed the decoder's MMFS, §1.8 step 9).</param>
/// <param name="Row">[B_I] int64 batch row of each image.</param>
/// <param name="SoiPosition">[B_I] int64 position of each image's <c>&lt;soi&gt;</c> in its row.</param>
public sealed record ImageDecoderContextBatch(
    Tensor Features, Tensor Mask, Tensor Lengths, Tensor IsCondImage, Tensor PreviousImage, Tensor Row, Tensor SoiPosition);

/// <summary>
/// Pure tensor functions of the NIP conditioning path (reference §1.8; paper §2, Eq. 3): cut out
/// each image's document context from the LLM's last hidden states, and the fixed 1-D sin-cos table
/// (MAE <c>get_1d_sincos_pos_embed_from_grid</c>) added to it after <c>context_feat_proj</c>.
/// Images are numbered by their <c>&lt;soi&gt;</c> tokens in row-major order, the same order as the
/// image tensors of the batch.
/// </summary>
public static class ImageDecoderContext
{
    /// <summary>The context length of an image that opens its document: <c>&lt;s&gt;&lt;soi&gt;</c>. Only longer ones get NIP loss.</summary>
    public const long BareContext = 2;

    /// <summary>Whether an image whose context (BOS … &lt;soi&gt;) is <paramref name="length"/> tokens long gets NIP loss.</summary>
    public static bool HasContext(long length) => length > BareContext;

    /// <summary>
    /// Each <c>&lt;soi&gt;</c> of the host ids [B·L] in row-major order: its row, its position and the position of the
    /// nearest BOS at or before it (0, the row start, when there is none). Its context length is Soi − Bos + 1.
    /// </summary>
    public static IReadOnlyList<(long Row, long Soi, long Bos)> Locate(long[] ids, long B, long L, long bosId, long soiId)
    {
        var images = new List<(long Row, long Soi, long Bos)>();
        for (long b = 0; b < B; b++)
        {
            long bos = 0;                       // no BOS yet: the context starts at the row start
            for (long l = 0; l < L; l++)
            {
                var id = ids[b * L + l];
                if (id == bosId) bos = l;
                if (id == soiId) images.Add((b, l, bos));
            }
        }
        return images;
    }

    /// <summary>
    /// For each <c>&lt;soi&gt;</c> (row-major), the states from the nearest BOS at or before it (row
    /// start when there is none) up to and including the <c>&lt;soi&gt;</c>, reversed and padded.
    /// Gradients flow back into <paramref name="hidden"/>.
    /// </summary>
    /// <param name="hidden">[B, L, D] LLM last hidden states.</param>
    /// <param name="textIds">[B, L] token ids.</param>
    /// <param name="bosId">BOS id (1 for LLaMA).</param>
    /// <param name="soiId"><c>&lt;|startofimage|&gt;</c> id (32000 in DEEM).</param>
    public static ImageDecoderContextBatch Extract(Tensor hidden, Tensor textIds, long bosId, long soiId)
    {
        if (hidden.dim() != 3) throw new ArgumentException($"hidden: expected [B, L, D], found [{string.Join(", ", hidden.shape)}]");
        var (B, L, D) = (hidden.shape[0], hidden.shape[1], hidden.shape[2]);
        if (textIds.dim() != 2 || textIds.shape[0] != B || textIds.shape[1] != L)
            throw new ArgumentException($"textIds: expected [{B}, {L}], found [{string.Join(", ", textIds.shape)}]");

        var images = Locate(textIds.to(ScalarType.Int64).cpu().data<long>().ToArray(), B, L, bosId, soiId);
        var rows = images.Select(x => x.Row).ToList();
        var sois = images.Select(x => x.Soi).ToList();
        var boss = images.Select(x => x.Bos).ToList();
        var n = rows.Count;
        if (n == 0) throw new ArgumentException($"textIds: no <soi> token (id {soiId}) in the batch");

        var lengths = new long[n];
        var previous = new long[n];
        for (var i = 0; i < n; i++)
        {
            lengths[i] = sois[i] - boss[i] + 1;
            // The previous image counts only if it sits in the same row at or after this image's BOS.
            previous[i] = i > 0 && rows[i - 1] == rows[i] && sois[i - 1] >= boss[i] ? i - 1 : -1;
        }
        var lMax = lengths.Max();

        // Flat source index of each (image, reversed position); padding points at index 0 and is masked.
        var index = new long[n * lMax];
        var mask = new long[n * lMax];
        for (var i = 0; i < n; i++)
            for (long j = 0; j < lengths[i]; j++)
            {
                index[i * lMax + j] = rows[i] * L + sois[i] - j;
                mask[i * lMax + j] = 1;
            }

        using var scope = NewDisposeScope();
        var device = hidden.device;
        var idx = tensor(index, device: device);                                                  // [B_I·L_max]
        var maskT = tensor(mask, device: device).view(n, lMax);                                   // [B_I, L_max]
        var gathered = hidden.reshape(B * L, D).index_select(0, idx).view(n, lMax, D);            // [B_I, L_max, D]
        var features = gathered * maskT.unsqueeze(-1).to(hidden.dtype);                           // [B_I, L_max, D]
        var lengthsT = tensor(lengths, device: device);                                           // [B_I]
        return new ImageDecoderContextBatch(
            features.MoveToOuterDisposeScope(),
            maskT.MoveToOuterDisposeScope(),
            lengthsT.MoveToOuterDisposeScope(),
            lengthsT.gt(BareContext).MoveToOuterDisposeScope(),
            tensor(previous, device: device).MoveToOuterDisposeScope(),
            tensor(rows.ToArray(), device: device).MoveToOuterDisposeScope(),
            tensor(sois.ToArray(), device: device).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The fixed 1-D sin-cos table [length, dim]: row p = [sin(p·ω_k) for k &lt; dim/2, cos(p·ω_k) for k &lt; dim/2]
    /// with ω_k = 10000^(−2k/dim), computed in float64 and cast to <paramref name="dtype"/>.
    /// </summary>
    public static Tensor SinCos1D(long dim, long length, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        if (dim <= 0 || dim % 2 != 0) throw new ArgumentException($"dim: expected an even positive width, found {dim}", nameof(dim));
        using var scope = NewDisposeScope();
        var half = dim / 2;
        var omega = pow(tensor(10000.0, ScalarType.Float64, device), arange(half, ScalarType.Float64, device) / (double)half)
            .reciprocal();                                                                        // [D/2]
        var pos = arange(length, ScalarType.Float64, device);                                     // [P]
        var angles = outer(pos, omega);                                                           // [P, D/2]
        var table = cat([sin(angles), cos(angles)], 1);                                           // [P, D]
        return table.to(dtype).MoveToOuterDisposeScope();
    }
}
