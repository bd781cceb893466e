using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Attention;

/// <summary>Input of <see cref="Mmfs"/>.</summary>
/// <param name="Query">[B, Lq, d_query].</param>
/// <param name="ReferencePoints">[B or 1, Lq, 2] as (x, y) in [0, 1], shared by every image and level.</param>
/// <param name="Values">[B, N, S, d_value]: N images, each the row-major flattening of its L levels concatenated (S = Σ_l H_l·W_l).</param>
/// <param name="SpatialShapes">(H_l, W_l) of the L levels of one image, in their order in S.</param>
/// <param name="Visible">[B, N] or [B, Lq', N] (bool or 0/1): which images a query may see. With Lq' &gt; Lq the last Lq rows are used (incremental decoding).</param>
public sealed record MmfsInput(Tensor Query, Tensor ReferencePoints, Tensor Values, (long H, long W)[] SpatialShapes, Tensor Visible);

/// <summary>
/// Multi-image multi-scale feature synchronizer (MMFS; MM-Interleaved §3.2, DEEM §2 / reference §1.6):
/// a deformable attention from each query to the multi-scale feature maps of several images. The query
/// is specialised per image by <c>dynamic_offset_mask</c> plus a relative-image embedding
/// <c>query_relpos</c> (most recent visible image = 1, older ones larger, invisible = 0); it predicts
/// offsets (shared by the levels, scaled by side_l / base) around its reference point and logits for
/// P points and one "ignore" slot per (image, level). One softmax per head runs over images × levels ×
/// (points + ignore); the ignore logit is −log(N·L) and its value is the frozen zero
/// <c>ignore_token</c>, and invisible images get −10000 on their point logits, so a query that sees no
/// image reads nothing. Parameter names equal the published state-dict keys.
/// </summary>
public sealed class Mmfs : nn.Module<MmfsInput, Tensor>
{
    private readonly Linear sampling_offsets;
    private readonly Parameter ignore_token;
    private readonly Linear dynamic_offset_mask;
    private readonly Linear attention_weights;
    private readonly Linear value_proj;
    private readonly Linear output_proj;
    private readonly Embedding query_relpos;

    private readonly MmfsConfig _config;
    private readonly double[] _scaleRatios;

    /// <summary>The configuration this module was built with.</summary>
    public MmfsConfig Config => _config;

    public Mmfs(MmfsConfig config, Generator? generator = null, string name = "mmfs") : base(name)
    {
        config.Validate(nameof(MmfsConfig));
        _config = config;
        _scaleRatios = config.SpatialShapes.Select(s => (double)s / config.BaseSpatialShape).ToArray();
        var (nH, L, P) = (config.NHeads, config.NLevels, config.NPoints);

        sampling_offsets = nn.Linear(config.DQuery, nH * P * 2);
        ignore_token = new Parameter(torch.zeros(1, 1, 1, config.InnerDim), requires_grad: false);
        dynamic_offset_mask = nn.Linear(config.DQuery, config.DQuery);
        attention_weights = nn.Linear(config.DQuery, nH * L * (P + 1));
        value_proj = nn.Linear(config.DValue, config.InnerDim);
        output_proj = nn.Linear(config.InnerDim, config.DOut);
        query_relpos = nn.Embedding(config.MaxNumImagePerSeq, config.DQuery);
        RegisterComponents();
        ResetParameters(generator);
    }

    /// <summary>
    /// The reference <c>_reset_parameters</c>: <c>sampling_offsets</c> weight 0 and bias U(−m, m);
    /// <c>attention_weights</c>, <c>dynamic_offset_mask</c> biases 0 (their weights keep nn.Linear's
    /// kaiming-uniform, redrawn here from <paramref name="generator"/>); <c>value_proj</c>,
    /// <c>output_proj</c> xavier-uniform with bias 0; <c>query_relpos</c> truncated normal (std 0.02).
    /// No-op on the meta device. (Draws use the tensor methods: TorchSharp's nn.init functions ignore the generator.)
    /// </summary>
    public void ResetParameters(Generator? generator = null)
    {
        if (sampling_offsets.weight!.device_type == DeviceType.META) return;
        using var noGrad = torch.no_grad();
        var (nH, P) = (_config.NHeads, _config.NPoints);
        var m = _config.OffsetInitMagnitude;

        sampling_offsets.weight.zero_();
        var gridInit = torch.empty(nH, 1, P, 2, device: sampling_offsets.bias!.device);      // [nH, 1, P, 2]
        gridInit.uniform_(-m, m, generator);
        sampling_offsets.bias.copy_(gridInit.view(-1));                                       // [nH·P·2]
        gridInit.Dispose();

        // nn.Linear's default kaiming_uniform(a=√5) is U(±1/√fan_in); xavier_uniform is U(±√(6/(fan_in+fan_out))).
        UniformByFans(dynamic_offset_mask.weight!, fan => 1.0 / Math.Sqrt(fan.In), generator);
        dynamic_offset_mask.bias!.zero_();
        UniformByFans(attention_weights.weight!, fan => 1.0 / Math.Sqrt(fan.In), generator);
        attention_weights.bias!.zero_();
        UniformByFans(value_proj.weight!, fan => Math.Sqrt(6.0 / (fan.In + fan.Out)), generator);
        value_proj.bias!.zero_();
        UniformByFans(output_proj.weight!, fan => Math.Sqrt(6.0 / (fan.In + fan.Out)), generator);
        output_proj.bias!.zero_();
        // trunc_normal_(std=0.02) with PyTorch's default absolute bounds ±2 (= ±100σ): a normal draw, clamped.
        query_relpos.weight!.normal_(0.0, 0.02, generator);
        query_relpos.weight!.clamp_(-2.0, 2.0);
        ignore_token.zero_();
    }

    private static void UniformByFans(Tensor weight, Func<(long In, long Out), double> bound, Generator? generator)
    {
        var b = bound((weight.shape[1], weight.shape[0]));                                    // Linear weight is [out, in]
        weight.uniform_(-b, b, generator);
    }

    public override Tensor forward(MmfsInput input)
    {
        using var scope = torch.NewDisposeScope();
        var c = _config;
        var (query, refPts, values, shapes) = (input.Query, input.ReferencePoints, input.Values, input.SpatialShapes);
        if (query.dim() != 3 || query.shape[2] != c.DQuery)
            throw new ArgumentException($"Query: expected [B, Lq, {c.DQuery}], found [{string.Join(", ", query.shape)}]");
        var (B, Lq) = (query.shape[0], query.shape[1]);
        if (values.dim() != 4 || values.shape[0] != B || values.shape[3] != c.DValue)
            throw new ArgumentException($"Values: expected [{B}, N, S, {c.DValue}], found [{string.Join(", ", values.shape)}]");
        var (N, S) = (values.shape[1], values.shape[2]);
        if (shapes.Length != c.NLevels)
            throw new ArgumentException($"SpatialShapes: expected {c.NLevels} levels, found {shapes.Length}");
        var total = shapes.Sum(s => s.H * s.W);
        if (total != S)
            throw new ArgumentException($"Values: S = {S} but SpatialShapes cover Σ H·W = {total}");
        if (refPts.dim() != 3 || (refPts.shape[0] != B && refPts.shape[0] != 1) || refPts.shape[1] != Lq || refPts.shape[2] != 2)
            throw new ArgumentException($"ReferencePoints: expected [{B} or 1, {Lq}, 2], found [{string.Join(", ", refPts.shape)}]");
        var (nH, L, P, hD) = (c.NHeads, c.NLevels, c.NPoints, c.HeadDim);

        var visible = VisibleRows(input.Visible, B, Lq, N);                                  // [B, Lq|1, N] bool
        var visLong = visible.to(ScalarType.Int64);
        var rel = (visLong.sum(-1, keepdim: true) + 1 - visLong.cumsum(-1)) * visLong;        // [B, Lq|1, N]
        var relMax = rel.max().item<long>();
        if (relMax >= c.MaxNumImagePerSeq)
            throw new ArgumentException(
                $"Visible: a query sees {relMax} images, but max_num_image_per_seq = {c.MaxNumImagePerSeq} allows at most {c.MaxNumImagePerSeq - 1}");
        rel = rel.expand(B, Lq, N);                                                           // [B, Lq, N]

        // The query per image is dynamic_offset_mask(q) + query_relpos[rel]. Both heads are linear, so
        // head(q_dyn + e_rel) = head(q_dyn) + W_head·e_rel: the relpos rows are projected once
        // ([max_img, out]) instead of materialising the [B, N, Lq, d_query] broadcast query.
        var dyn = dynamic_offset_mask.forward(query);                                         // [B, Lq, Dq]
        var relFlat = rel.reshape(-1);                                                        // [B·Lq·N]
        var relOffsets = query_relpos.weight!.matmul(sampling_offsets.weight!.t())            // [max_img, nH·P·2]
            .index_select(0, relFlat).view(B, Lq, N, nH * P * 2);                             // [B, Lq, N, nH·P·2]
        var relLogits = query_relpos.weight!.matmul(attention_weights.weight!.t())            // [max_img, nH·L·(P+1)]
            .index_select(0, relFlat).view(B, Lq, N, nH * L * (P + 1));                       // [B, Lq, N, nH·L·(P+1)]

        var offsets = (sampling_offsets.forward(dyn).unsqueeze(2) + relOffsets)               // [B, Lq, N, nH·P·2]
            .view(B, Lq, N, nH, P, 2)                                                         // [B, Lq, N, nH, P, 2]
            .permute(0, 1, 3, 2, 4, 5)                                                        // [B, Lq, nH, N, P, 2]
            .unsqueeze(4);                                                                    // [B, Lq, nH, N, 1, P, 2]
        var ratios = torch.tensor(_scaleRatios, dtype: offsets.dtype, device: offsets.device)
            .view(1, 1, 1, 1, L, 1, 1);                                                       // [1, 1, 1, 1, L, 1, 1]
        var normalizer = torch.tensor(shapes.SelectMany(s => new[] { (double)s.W, (double)s.H }).ToArray(),
                dtype: offsets.dtype, device: offsets.device)
            .view(1, 1, 1, 1, L, 1, 2);                                                       // [1, 1, 1, 1, L, 1, 2] as (W, H)
        var locations = refPts.to(offsets.dtype).view(refPts.shape[0], Lq, 1, 1, 1, 1, 2)    // [B|1, Lq, 1, 1, 1, 1, 2]
                        + offsets * ratios / normalizer;                                      // [B, Lq, nH, N, L, P, 2]

        var logits = (attention_weights.forward(dyn).unsqueeze(2) + relLogits)                // [B, Lq, N, nH·L·(P+1)]
            .view(B, Lq, N, nH, L, P + 1)                                                     // [B, Lq, N, nH, L, P+1]
            .permute(0, 1, 3, 2, 4, 5);                                                       // [B, Lq, nH, N, L, P+1]
        var maskBias = (1.0 - visible.to(logits.dtype)) * -10000.0;                            // [B, Lq|1, N]
        var pointLogits = logits.narrow(-1, 0, P)
                          + maskBias.view(B, maskBias.shape[1], 1, N, 1, 1);                  // [B, Lq, nH, N, L, P]
        var ignoreLogits = torch.full(new[] { B, Lq, nH, N, L, 1L }, -Math.Log(N * L),
            dtype: logits.dtype, device: logits.device);                                      // [B, Lq, nH, N, L, 1]
        var weights = F.softmax(torch.cat(new[] { pointLogits, ignoreLogits }, -1)            // [B, Lq, nH, N, L, P+1]
                .reshape(B, Lq, nH, N * L * (P + 1)), -1)                                     // [B, Lq, nH, N·L·(P+1)]
            .view(B, Lq, nH, N, L, P + 1);                                                    // [B, Lq, nH, N, L, P+1]
        var pointWeights = weights.narrow(-1, 0, P);                                          // [B, Lq, nH, N, L, P]
        var ignoreWeight = weights.select(-1, P).sum(new long[] { 3, 4 });                    // [B, Lq, nH]
        var ignored = (ignoreWeight.unsqueeze(-1) * ignore_token.view(nH, hD))                // [B, Lq, nH, hD]
            .reshape(B, Lq, nH * hD);                                                         // [B, Lq, inner]

        var value = value_proj.forward(values)                                                // [B, N, S, inner]
            .view(B, N, S, nH, hD);                                                           // [B, N, S, nH, hD]
        var sampled = MsDeformAttnCore.Forward(value, shapes, locations.to(value.dtype), pointWeights); // [B, Lq, inner]
        var result = output_proj.forward(sampled + ignored);                                 // [B, Lq, d_out]
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>[B, N] or [B, Lq', N] → [B, Lq|1, N] bool, keeping the last Lq rows when Lq' &gt; Lq.</summary>
    private static Tensor VisibleRows(Tensor visible, long B, long Lq, long N)
    {
        if (visible.dim() == 2)
        {
            if (visible.shape[0] != B || visible.shape[1] != N)
                throw new ArgumentException($"Visible: expected [{B}, {N}] or [{B}, Lq, {N}], found [{string.Join(", ", visible.shape)}]");
            return visible.to(ScalarType.Bool).unsqueeze(1);                                  // [B, 1, N]
        }
        if (visible.dim() != 3 || visible.shape[0] != B || visible.shape[2] != N || visible.shape[1] < Lq)
            throw new ArgumentException($"Visible: expected [{B}, ≥{Lq}, {N}] or [{B}, {N}], found [{string.Join(", ", visible.shape)}]");
        var rows = visible.shape[1] == Lq ? visible : visible.narrow(1, visible.shape[1] - Lq, Lq); // [B, Lq, N]
        return rows.to(ScalarType.Bool);
    }
}
