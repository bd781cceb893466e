using Deem.Language;
using static TorchSharp.torch;
using static Deem.Tests.Language.LlamaTestData;

namespace Deem.Tests.Language;

[Collection(GlobalTorchStateCollection.Name)]
public class LlamaModelTests
{
    private static void AssertClose(Tensor expected, Tensor actual, double tol, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        var diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff <= tol, $"{what}: max |diff| = {diff} > {tol}");
    }

    [Fact]
    public void LogitsHaveBatchLengthVocabShapeAndStateDictUsesHfKeys()
    {
        using var m = TextModel();
        using var ids = RandomIds(1, 2, 7);
        using var logits = m.forward(new LlamaModelInput(InputIds: ids));
        Assert.Equal(new long[] { 2, 7, TinyConfig.VocabSize }, logits.shape);

        var keys = m.state_dict().Keys.ToHashSet();
        var expected = new List<string> { "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight" };
        for (var i = 0; i < TinyConfig.NumHiddenLayers; i++)
        {
            foreach (var p in new[] { "q_proj", "k_proj", "v_proj", "o_proj" }) expected.Add($"model.layers.{i}.self_attn.{p}.weight");
            foreach (var p in new[] { "gate_proj", "up_proj", "down_proj" }) expected.Add($"model.layers.{i}.mlp.{p}.weight");
            expected.Add($"model.layers.{i}.input_layernorm.weight");
            expected.Add($"model.layers.{i}.post_attention_layernorm.weight");
        }
        Assert.Equal(expected.OrderBy(k => k), keys.OrderBy(k => k));
    }

    [Fact]
    public void CrossAttentionBlocksSitOnEveryFrequencyThLayerUnderLlamaCrossAttn()
    {
        using var m = VisionModel();
        var keys = m.state_dict().Keys.Where(k => k.Contains("llama_cross_attn")).Order(StringComparer.Ordinal).ToArray();
        // Tiny: 4 layers, frequency 2 → layers 0 and 2.
        Assert.Equal(new[]
        {
            "model.layers.0.llama_cross_attn.gate", "model.layers.0.llama_cross_attn.proj.bias", "model.layers.0.llama_cross_attn.proj.weight",
            "model.layers.2.llama_cross_attn.gate", "model.layers.2.llama_cross_attn.proj.bias", "model.layers.2.llama_cross_attn.proj.weight",
        }, keys);
        Assert.Equal(2, m.Model.CrossAttentionCount);
    }

    [Fact]
    public void ChangingALaterTokenNeverChangesAnEarlierLogit()
    {
        using var m = TextModel();
        using var ids = RandomIds(2, 1, 10);
        using var changed = ids.clone();
        changed[0, 6] = tensor(199L);
        using var a = m.forward(new LlamaModelInput(InputIds: ids));
        using var b = m.forward(new LlamaModelInput(InputIds: changed));
        AssertClose(a.narrow(1, 0, 6), b.narrow(1, 0, 6), 1e-6, "positions before the change");
        Assert.True((a.narrow(1, 6, 4) - b.narrow(1, 6, 4)).abs().max().item<float>() > 1e-3, "later positions must change");
    }

    [Fact]
    public void LeftPaddedBatchEqualsEachRowAlone()
    {
        using var m = TextModel();
        using var longRow = RandomIds(3, 1, 8);
        using var shortRow = RandomIds(4, 1, 5);
        var pad = Tokens.Pad;
        using var padded = cat([full(1, 3, pad, dtype: ScalarType.Int64), shortRow], 1);   // [1, 8]
        using var ids = cat([longRow, padded], 0);                                             // [2, 8]
        using var mask = cat([ones(1, 8, dtype: ScalarType.Int64),
                              cat([zeros(1, 3, dtype: ScalarType.Int64), ones(1, 5, dtype: ScalarType.Int64)], 1)], 0);

        using var batch = m.forward(new LlamaModelInput(InputIds: ids, AttentionMask: mask));
        using var aloneLong = m.forward(new LlamaModelInput(InputIds: longRow));
        using var aloneShort = m.forward(new LlamaModelInput(InputIds: shortRow));
        AssertClose(aloneLong, batch.narrow(0, 0, 1), 1e-5, "full row");
        AssertClose(aloneShort, batch.narrow(0, 1, 1).narrow(1, 3, 5), 1e-5, "left-padded row");
        Assert.False(batch.isnan().any().item<bool>(), "padding rows must not produce NaN");
    }

    [Fact]
    public void KvCacheStepsEqualFullRecomputeWithLeftPadding()
    {
        using var m = TextModel(TinyConfig with { NumKeyValueHeads = 2 });   // grouped-query attention
        using var ids = RandomIds(5, 2, 9);
        using var mask = ones(2, 9, dtype: ScalarType.Int64);
        mask[1, 0] = tensor(0L);
        mask[1, 1] = tensor(0L);
        using var fullLogits = m.forward(new LlamaModelInput(InputIds: ids, AttentionMask: mask));

        using var cache = m.Model.NewCache();
        var prefix = 4;
        var pieces = new List<Tensor>
        {
            m.forward(new LlamaModelInput(InputIds: ids.narrow(1, 0, prefix), AttentionMask: mask.narrow(1, 0, prefix), Cache: cache)),
        };
        for (var t = prefix; t < 9; t++)
            pieces.Add(m.forward(new LlamaModelInput(InputIds: ids.narrow(1, t, 1), AttentionMask: mask.narrow(1, 0, t + 1), Cache: cache)));
        using var stepped = cat(pieces, 1);
        Assert.Equal(9, cache.Length);
        AssertClose(fullLogits.narrow(0, 0, 1), stepped.narrow(0, 0, 1), 1e-5, "row 0");
        AssertClose(fullLogits.narrow(0, 1, 1).narrow(1, 2, 7), stepped.narrow(0, 1, 1).narrow(1, 2, 7), 1e-5, "row 1 real tokens");
        foreach (var p in pieces) p.Dispose();
    }

    [Fact]
    public void KvCacheStepsEqualFullRecomputeWithCrossAttentionAndVision()
    {
        using var m = VisionModel(seed: 3);
        var row = PackedRow();
        using var ids = tensor(row, [1, row.Length]);
        var L = row.Length;
        var layout = ImageLayout.FromIds(ids, Tokens);
        using var values = Random(7, layout.ImageCount, 5, VisionDim);
        var vision = layout.VisionStates(values, Shapes);

        using var fullLogits = m.forward(new LlamaModelInput(InputIds: ids, Vision: vision));
        using var textOnly = m.forward(new LlamaModelInput(InputIds: ids));
        Assert.True((fullLogits - textOnly).abs().max().item<float>() > 1e-3, "vision must change the logits");

        using var cache = m.Model.NewCache();
        var prefix = 3;
        var pieces = new List<Tensor>
        {
            m.forward(new LlamaModelInput(InputIds: ids.narrow(1, 0, prefix), Cache: cache, Vision: vision.SliceQueries(0, prefix))),
        };
        for (var t = prefix; t < L; t++)
            pieces.Add(m.forward(new LlamaModelInput(InputIds: ids.narrow(1, t, 1), Cache: cache, Vision: vision.SliceQueries(t, 1))));
        using var stepped = cat(pieces, 1);
        AssertClose(fullLogits, stepped, 1e-5, "incremental with vision");
        foreach (var p in pieces) p.Dispose();
    }

    [Fact]
    public void VisionRowsMustMatchTheNewTokens()
    {
        using var m = VisionModel();
        var row = PackedRow();
        using var ids = tensor(row, [1, row.Length]);
        var layout = ImageLayout.FromIds(ids, Tokens);
        using var values = Random(7, layout.ImageCount, 5, VisionDim);
        var vision = layout.VisionStates(values, Shapes);
        var e = Assert.Throws<ArgumentException>(() => m.forward(new LlamaModelInput(InputIds: ids.narrow(1, 0, 4), Vision: vision)));
        Assert.Contains("Visible", e.Message);
    }

    [Fact]
    public void RopeRotatesEachPairByPositionTimesFrequency()
    {
        // head dim 4, theta 10000: frequencies 1 and 10000^(-1/2) = 0.01; pairs are (x0, x2) and (x1, x3).
        const double p = 3.0;
        var x = new float[] { 0.3f, -1.2f, 0.8f, 0.5f };
        using var pos = tensor(new long[] { (long)p }, [1, 1]);
        var (cos, sin) = Rope.CosSin(pos, 4, 10000.0, ScalarType.Float32);
        using var xt = tensor(x, [1, 1, 1, 4]);
        using var y = Rope.Apply(xt, cos, sin);
        var got = y.reshape(4).data<float>().ToArray();

        double a0 = p * 1.0, a1 = p * 0.01;
        var expected = new[]
        {
            x[0] * Math.Cos(a0) - x[2] * Math.Sin(a0),
            x[1] * Math.Cos(a1) - x[3] * Math.Sin(a1),
            x[2] * Math.Cos(a0) + x[0] * Math.Sin(a0),
            x[3] * Math.Cos(a1) + x[1] * Math.Sin(a1),
        };
        for (var i = 0; i < 4; i++) Assert.Equal(expected[i], got[i], 5);
        cos.Dispose();
        sin.Dispose();
    }

    [Fact]
    public void RopeByRollAndSignedSinesIsRotateHalfBitForBit()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(5);
        var x = randn(new long[] { 2, 3, 7, 8 }, generator: gen);                       // [B, nH, L, hD]
        var pos = randint(0, 4096, new long[] { 2, 7 }, generator: gen);                // [B, L]
        var (cos, sin) = Rope.CosSin(pos, 8, 10000.0, ScalarType.Float32);
        var hf = x * cos.unsqueeze(1) + Rope.RotateHalf(x) * sin.unsqueeze(1);           // HF LLaMA's apply_rotary_pos_emb
        var (c, s) = Rope.ForHeads(cos, sin);
        var ours = Rope.ApplyForHeads(x, c, s);
        Assert.True(ours.eq(hf).all().item<bool>(), $"max diff {(ours - hf).abs().max().item<float>():E3}, c {c.shape[0]}x{c.shape[1]}x{c.shape[2]}x{c.shape[3]}");
        Assert.True(Rope.Apply(x, cos, sin).eq(hf).all().item<bool>());
    }

    [Fact]
    public void RmsNormMatchesHandFormula()
    {
        using var norm = new LlamaRmsNorm(4, 1e-5);
        using var x = tensor(new float[] { 1, -2, 3, 0.5f }, [1, 4]);
        using var y = norm.forward(x);
        var rms = Math.Sqrt((1 + 4 + 9 + 0.25) / 4 + 1e-5);
        var got = y.reshape(4).data<float>().ToArray();
        Assert.Equal(1 / rms, got[0], 5);
        Assert.Equal(-2 / rms, got[1], 5);
        Assert.Equal(3 / rms, got[2], 5);
        Assert.Equal(0.5 / rms, got[3], 5);
    }

    [Fact]
    public void ForwardLeavesNoLiveTensorsBehind()
    {
        using var m = TextModel();
        using var ids = RandomIds(9, 1, 6);
        m.forward(new LlamaModelInput(InputIds: ids)).Dispose();
        var before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 3; i++)
            m.forward(new LlamaModelInput(InputIds: ids)).Dispose();
        Assert.Equal(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);

        // Decoding with a cache: the cache owns 2 tensors per layer while alive, nothing after Dispose.
        var cache = m.Model.NewCache();
        m.forward(new LlamaModelInput(InputIds: ids, Cache: cache)).Dispose();
        for (var t = 0; t < 3; t++)
        {
            using var step = ids.narrow(1, t, 1);
            m.forward(new LlamaModelInput(InputIds: step, Cache: cache)).Dispose();
        }
        Assert.Equal(9, cache.Length);
        cache.Dispose();
        Assert.Equal(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
