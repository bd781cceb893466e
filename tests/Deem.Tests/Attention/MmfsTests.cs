using Deem.Attention;
using Deem.Config;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.Attention.AttentionTestUtil;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Tests.Attention;

public class MmfsTests
{
    /// <summary>
    /// The reference MMFS forward step by step, as written in MM-Interleaved: the query repeated per
    /// image, dynamic_offset_mask + query_relpos on the broadcast query, the N images folded into
    /// N·L "levels" of the single-image deformable core, offsets scaled per level and divided by (W, H),
    /// −10000 on invisible images, the ignore logit overwritten with −log(N·L).
    /// </summary>
    private static Tensor LiteralReference(MmfsConfig c, Dictionary<string, Tensor> p, Tensor query, Tensor refPts,
        Tensor values, (long H, long W)[] shapes, Tensor mask)
    {
        var (B, Lq) = (query.shape[0], query.shape[1]);
        var (N, S) = (values.shape[1], values.shape[2]);
        var (nH, L, P, hD) = (c.NHeads, c.NLevels, c.NPoints, c.HeadDim);
        var NL = N * L;

        var m = mask.to(ScalarType.Int64);
        var rel = ((m.sum(-1, keepdim: true) + 1 - m.cumsum(-1)) * m).permute(0, 2, 1);   // [B, N, Lq]
        var value = F.linear(values, p["value_proj.weight"], p["value_proj.bias"]).reshape(B, N * S, nH, hD);
        var q = query.unsqueeze(1).repeat(1, N, 1, 1);                                       // [B, N, Lq, Dq]
        q = F.linear(q, p["dynamic_offset_mask.weight"], p["dynamic_offset_mask.bias"])
            + p["query_relpos.weight"].index_select(0, rel.reshape(-1)).view(B, N, Lq, -1);
        var so = F.linear(q, p["sampling_offsets.weight"], p["sampling_offsets.bias"])
            .view(B, N, Lq, nH, 1, P, 2).permute(0, 2, 3, 1, 4, 5, 6);                      // [B, Lq, nH, N, 1, P, 2]
        var ratios = torch.tensor(c.SpatialShapes.Select(s => (float)s / c.BaseSpatialShape).ToArray()).view(1, 1, 1, 1, L, 1, 1);
        so = (so * ratios).reshape(B, Lq, nH, NL, P, 2);
        var aw = F.linear(q, p["attention_weights.weight"], p["attention_weights.bias"])
            .view(B, N, Lq, nH, L, P + 1).permute(0, 2, 3, 1, 4, 5).reshape(B, Lq, nH, NL, P + 1);
        var maskAdd = ((1.0 - mask.to(ScalarType.Float32)) * -10000.0).view(B, Lq, 1, N, 1)
            .repeat_interleave(L, 3);                                                         // [B, Lq, 1, NL, 1]
        aw = aw + maskAdd;
        aw = aw.clone();
        aw.select(-1, P).fill_(-Math.Log(NL));
        aw = F.softmax(aw.view(B, Lq, nH, NL * (P + 1)), -1).view(B, Lq, nH, NL, P + 1);
        var ignore = (p["ignore_token"].view(1, 1, nH, 1, hD) * aw.narrow(-1, P, 1)).sum(-2).reshape(B, Lq, nH * hD);

        var allShapes = Enumerable.Range(0, (int)N).SelectMany(_ => shapes).ToArray();
        var normalizer = torch.tensor(allShapes.SelectMany(s => new[] { (float)s.W, (float)s.H }).ToArray()).view(1, 1, 1, NL, 1, 2);
        var loc = refPts.view(refPts.shape[0], Lq, 1, 1, 1, 2) + so / normalizer;
        var o = MsDeformAttnCore.ForwardSingleImage(value, allShapes, loc, aw.narrow(-1, 0, P)) + ignore;
        return F.linear(o, p["output_proj.weight"], p["output_proj.bias"]);
    }

    private static (Tensor Query, Tensor Ref, Tensor Values, (long, long)[] Shapes) Inputs(MmfsConfig c, long B, long Lq, long N, long seed)
    {
        var g = new Generator((ulong)seed);
        var shapes = c.SpatialShapes.Select(s => (s, s)).ToArray();
        var S = shapes.Sum(s => s.Item1 * s.Item2);
        return (torch.randn(new[] { B, Lq, c.DQuery }, generator: g),
            torch.rand(new[] { B, Lq, 2L }, generator: g),
            torch.randn(new[] { B, N, S, c.DValue }, generator: g),
            shapes);
    }

    private static Tensor Mask(bool[,,] m)
    {
        var (B, L, N) = (m.GetLength(0), m.GetLength(1), m.GetLength(2));
        var flat = new bool[B * L * N];
        for (var b = 0; b < B; b++) for (var l = 0; l < L; l++) for (var n = 0; n < N; n++) flat[(b * L + l) * N + n] = m[b, l, n];
        return torch.tensor(flat).view(B, L, N);
    }

    // Batch 0: row 0 sees nothing, rows 1.. see image 0, rows 3.. also image 1; image 2 visible to no one.
    // Batch 1: every row sees images 0 and 2, row 4 also image 1.
    private static readonly bool[,,] Visibility =
    {
        { { false, false, false }, { true, false, false }, { true, false, false }, { true, true, false }, { true, true, false } },
        { { true, false, true }, { true, false, true }, { true, false, true }, { true, false, true }, { true, true, true } },
    };

    [Fact]
    public void MatchesTheLiteralReferenceAlgorithm()
    {
        var c = MmfsConfig.LlmTiny;
        var mmfs = new Mmfs(c, new Generator(1));
        Randomize(mmfs, 2, 0.1);                                     // biases, ignore token and all: nonzero
        var (query, refPts, values, shapes) = Inputs(c, 2, 5, 3, 3);
        var mask = Mask(Visibility);

        var got = mmfs.forward(new MmfsInput(query, refPts, values, shapes, mask));
        var want = LiteralReference(c, Params(mmfs), query, refPts, values, shapes, mask);
        Assert.Equal(new[] { 2L, 5, c.DOut }, got.shape);
        Assert.True(MaxAbsDiff(got, want) < 1e-5, $"max |Δ| = {MaxAbsDiff(got, want)}");
    }

    [Fact]
    public void MatchesTheLiteralReferenceWithAPerSequenceMaskAndSharedReferencePoints()
    {
        var c = MmfsConfig.MmfsNetTiny;
        var mmfs = new Mmfs(c, new Generator(4));
        Randomize(mmfs, 5, 0.1);
        var (query, refPts, values, shapes) = Inputs(c, 2, 6, 2, 6);
        var shared = refPts.narrow(0, 0, 1);                                                 // [1, Lq, 2]
        var mask2d = torch.tensor(new[] { true, false, true, true }).view(2, 2);             // [B, N]

        var got = mmfs.forward(new MmfsInput(query, shared, values, shapes, mask2d));
        var want = LiteralReference(c, Params(mmfs), query, shared, values, shapes,
            mask2d.unsqueeze(1).expand(2, 6, 2));
        Assert.True(MaxAbsDiff(got, want) < 1e-5, $"max |Δ| = {MaxAbsDiff(got, want)}");
    }

    [Fact]
    public void InvisibleImagesDoNotInfluenceTheOutput()
    {
        var c = MmfsConfig.LlmTiny;
        var mmfs = new Mmfs(c, new Generator(1));
        Randomize(mmfs, 2, 0.1);
        var (query, refPts, values, shapes) = Inputs(c, 2, 5, 3, 3);
        var mask = Mask(Visibility);
        var before = mmfs.forward(new MmfsInput(query, refPts, values, shapes, mask));

        // Image 2 of batch 0 is visible to no token; image 1 of batch 0 only to rows 3 and 4.
        var changed = values.clone();
        changed[0, 2].add_(torch.randn(changed[0, 2].shape) * 5);
        changed[0, 1].add_(torch.randn(changed[0, 1].shape) * 5);
        var after = mmfs.forward(new MmfsInput(query, refPts, changed, shapes, mask));

        Assert.True(MaxAbsDiff(before[0].narrow(0, 0, 3), after[0].narrow(0, 0, 3)) < 1e-6);
        Assert.True(MaxAbsDiff(before[1], after[1]) < 1e-6);
        Assert.True(MaxAbsDiff(before[0].narrow(0, 3, 2), after[0].narrow(0, 3, 2)) > 1e-3);
    }

    [Fact]
    public void ATokenThatSeesNoImageReadsOnlyTheIgnoreSlot()
    {
        var c = MmfsConfig.LlmTiny;
        var mmfs = new Mmfs(c, new Generator(1));
        Randomize(mmfs, 2, 0.1);
        using (torch.no_grad()) Params(mmfs)["ignore_token"].zero_();                        // as in the checkpoint (frozen zeros)
        var (query, refPts, values, shapes) = Inputs(c, 2, 5, 3, 3);
        var o = mmfs.forward(new MmfsInput(query, refPts, values, shapes, Mask(Visibility)));

        // Before output_proj the row is exactly zero, so the output is output_proj's bias.
        var bias = Params(mmfs)["output_proj.bias"];
        Assert.True(MaxAbsDiff(o[0, 0], bias) < 1e-6);
        Assert.True(MaxAbsDiff(o[0, 1], bias) > 1e-3);
    }

    [Fact]
    public void StateDictKeysAndShapesMatchTheReference()
    {
        var c = MmfsConfig.LlmTiny;
        var sd = new Mmfs(c).state_dict();
        var expected = new Dictionary<string, long[]>
        {
            ["sampling_offsets.weight"] = [c.NHeads * c.NPoints * 2, c.DQuery],
            ["sampling_offsets.bias"] = [c.NHeads * c.NPoints * 2],
            ["ignore_token"] = [1, 1, 1, c.InnerDim],
            ["dynamic_offset_mask.weight"] = [c.DQuery, c.DQuery],
            ["dynamic_offset_mask.bias"] = [c.DQuery],
            ["attention_weights.weight"] = [c.NHeads * c.NLevels * (c.NPoints + 1), c.DQuery],
            ["attention_weights.bias"] = [c.NHeads * c.NLevels * (c.NPoints + 1)],
            ["value_proj.weight"] = [c.InnerDim, c.DValue],
            ["value_proj.bias"] = [c.InnerDim],
            ["output_proj.weight"] = [c.DOut, c.InnerDim],
            ["output_proj.bias"] = [c.DOut],
            ["query_relpos.weight"] = [c.MaxNumImagePerSeq, c.DQuery],
        };
        Assert.Equal(expected.Keys.OrderBy(k => k), sd.Keys.OrderBy(k => k));
        foreach (var (k, shape) in expected) Assert.Equal(shape, sd[k].shape);
    }

    [Fact]
    public void InitialisationFollowsTheReferenceResetParameters()
    {
        var c = MmfsConfig.LlmTiny;
        var p = Params(new Mmfs(c, new Generator(9)));
        Assert.Equal(0.0, p["sampling_offsets.weight"].abs().max().item<float>());
        var bias = p["sampling_offsets.bias"];
        Assert.True(bias.abs().max().item<float>() <= c.OffsetInitMagnitude);
        Assert.True(bias.abs().max().item<float>() > c.OffsetInitMagnitude / 2);
        foreach (var k in new[] { "attention_weights.bias", "dynamic_offset_mask.bias", "value_proj.bias", "output_proj.bias", "ignore_token" })
            Assert.Equal(0.0, p[k].abs().max().item<float>());
        Assert.False(p["ignore_token"].requires_grad);
        var relposStd = p["query_relpos.weight"].std().item<float>();
        Assert.True(relposStd is > 0.015f and < 0.025f, $"query_relpos std {relposStd}");
        // xavier_uniform bound √(6/(fan_in+fan_out)).
        var xavier = Math.Sqrt(6.0 / (c.DValue + c.InnerDim));
        Assert.True(p["value_proj.weight"].abs().max().item<float>() <= xavier + 1e-6);

        // Same generator seed → same parameters.
        var again = Params(new Mmfs(c, new Generator(9)));
        foreach (var k in p.Keys) Assert.True(MaxAbsDiff(p[k], again[k]) == 0.0, $"{k} differs");
    }

    [Fact]
    public void TooManyVisibleImagesAreRejected()
    {
        var c = MmfsConfig.MmfsNetTiny with { MaxNumImagePerSeq = 2 };
        var mmfs = new Mmfs(c);
        var (query, refPts, values, shapes) = Inputs(c, 1, 2, 2, 1);
        var e = Assert.Throws<ArgumentException>(() =>
            mmfs.forward(new MmfsInput(query, refPts, values, shapes, torch.ones(new long[] { 1, 2 }, dtype: ScalarType.Bool))));
        Assert.Contains("max_num_image_per_seq", e.Message);
    }
}
