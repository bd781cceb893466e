using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Attention;

/// <summary>
/// The sampling core of multi-scale deformable attention, with the semantics of Deformable DETR's
/// pure-PyTorch reference <c>ms_deform_attn_core_pytorch</c> (reference §1.6, §8 item 14): for each
/// level a bilinear <c>grid_sample</c> (zeros padding, align_corners=False) of the value map at the
/// sampling locations (in [0, 1], top-left (0, 0); grid = 2·loc − 1), weighted by the attention
/// weights and summed over points and levels. Extended to several images per query as MMFS needs
/// (MM-Interleaved §3): every (image, level) pair is one sampled map, and the sum also runs over images.
/// </summary>
public static class MsDeformAttnCore
{
    /// <summary>
    /// Multi-image form.
    /// </summary>
    /// <param name="value">[B, N, S, nH, hD]: N images, S = Σ_l H_l·W_l flattened row-major per level.</param>
    /// <param name="spatialShapes">(H_l, W_l) of the L levels of one image, in the order they are concatenated in S.</param>
    /// <param name="samplingLocations">[B, Lq, nH, N, L, P, 2] as (x, y) in [0, 1].</param>
    /// <param name="attentionWeights">[B, Lq, nH, N, L, P].</param>
    /// <returns>[B, Lq, nH·hD].</returns>
    public static Tensor Forward(Tensor value, (long H, long W)[] spatialShapes, Tensor samplingLocations, Tensor attentionWeights)
    {
        using var scope = torch.NewDisposeScope();
        if (value.dim() != 5)
            throw new ArgumentException($"value: expected [B, N, S, nH, hD], found [{string.Join(", ", value.shape)}]", nameof(value));
        var (B, N, S, nH, hD) = (value.shape[0], value.shape[1], value.shape[2], value.shape[3], value.shape[4]);
        var L = (long)spatialShapes.Length;
        if (samplingLocations.dim() != 7 || samplingLocations.shape[0] != B || samplingLocations.shape[2] != nH
            || samplingLocations.shape[3] != N || samplingLocations.shape[4] != L || samplingLocations.shape[6] != 2)
            throw new ArgumentException(
                $"samplingLocations: expected [B={B}, Lq, nH={nH}, N={N}, L={L}, P, 2], found [{string.Join(", ", samplingLocations.shape)}]",
                nameof(samplingLocations));
        var (Lq, P) = (samplingLocations.shape[1], samplingLocations.shape[5]);
        if (!attentionWeights.shape.SequenceEqual(new[] { B, Lq, nH, N, L, P }))
            throw new ArgumentException(
                $"attentionWeights: expected [{B}, {Lq}, {nH}, {N}, {L}, {P}], found [{string.Join(", ", attentionWeights.shape)}]",
                nameof(attentionWeights));
        var total = spatialShapes.Sum(s => s.H * s.W);
        if (total != S)
            throw new ArgumentException($"value: S = {S} but the spatial shapes cover Σ H·W = {total}", nameof(value));

        // One layout copy each for the grids and the weights (levels outermost), one grid_sample per
        // level, then a single weighted sum over levels × points and a sum over images.
        var G = B * nH * N;
        var grids = (samplingLocations * 2 - 1)                                        // [B, Lq, nH, N, L, P, 2]
            .permute(4, 0, 2, 3, 1, 5, 6)                                              // [L, B, nH, N, Lq, P, 2]
            .reshape(L, G, Lq, P, 2);                                                  // [L, B·nH·N, Lq, P, 2]
        var values = value.permute(0, 3, 1, 4, 2)                                      // [B, nH, N, hD, S]
            .reshape(G, hD, S);                                                        // [B·nH·N, hD, S]
        var sampled = new Tensor[L];
        long start = 0;
        for (var l = 0; l < L; l++)
        {
            var (H, W) = spatialShapes[l];
            var v = values.narrow(2, start, H * W).view(G, hD, H, W);                  // [B·nH·N, hD, H, W]
            sampled[l] = F.grid_sample(v, grids[l], GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros,
                align_corners: false);                                                 // [B·nH·N, hD, Lq, P]
            start += H * W;
        }
        var w = attentionWeights.permute(0, 2, 3, 1, 4, 5)                             // [B, nH, N, Lq, L, P]
            .reshape(G, 1, Lq, L * P);                                                 // [B·nH·N, 1, Lq, L·P]
        var acc = (torch.cat(sampled, -1) * w).sum(-1)                                 // [B·nH·N, hD, Lq]
            .view(B, nH, N, hD, Lq)                                                    // [B, nH, N, hD, Lq]
            .sum(2);                                                                   // [B, nH, hD, Lq]

        var result = acc.permute(0, 3, 1, 2)                                           // [B, Lq, nH, hD]
            .reshape(B, Lq, nH * hD);                                                  // [B, Lq, nH·hD]
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Single-image form, the exact argument layout of <c>ms_deform_attn_core_pytorch</c>.
    /// </summary>
    /// <param name="value">[B, S, nH, hD].</param>
    /// <param name="spatialShapes">(H_l, W_l) of the L levels.</param>
    /// <param name="samplingLocations">[B, Lq, nH, L, P, 2].</param>
    /// <param name="attentionWeights">[B, Lq, nH, L, P].</param>
    /// <returns>[B, Lq, nH·hD].</returns>
    public static Tensor ForwardSingleImage(Tensor value, (long H, long W)[] spatialShapes, Tensor samplingLocations, Tensor attentionWeights)
    {
        using var scope = torch.NewDisposeScope();
        var result = Forward(value.unsqueeze(1),                                       // [B, 1, S, nH, hD]
            spatialShapes,
            samplingLocations.unsqueeze(3),                                            // [B, Lq, nH, 1, L, P, 2]
            attentionWeights.unsqueeze(3));                                            // [B, Lq, nH, 1, L, P]
        return result.MoveToOuterDisposeScope();
    }
}
