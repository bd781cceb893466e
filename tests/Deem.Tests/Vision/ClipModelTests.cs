using Deem.Config;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Vision;

/// <summary>The CLIP text tower and CLIP model: keys, causality, pooling, the loss.</summary>
public class ClipModelTests
{
    internal static ClipTextConfig Text => ClipTextConfig.Tiny with { VocabSize = 40, ContextLength = 8, Width = 16, Heads = 2, EmbedDim = 12 };

    [Fact]
    public void ContrastiveLossIsSymmetricInfoNceOnAHandCase()
    {
        using var scope = NewDisposeScope();
        var img = tensor(new float[] { 1, 0, 0.6f, 0.8f }, new long[] { 2, 2 });
        var txt = tensor(new float[] { 1, 0, 0, 1 }, new long[] { 2, 2 });
        var loss = ClipModel.ContrastiveLoss(img, txt, tensor(2.0f)).item<float>();
        // logits = 2·I·Tᵀ = [[2, 0], [1.2, 1.6]]
        static double Ce(double target, double other) => -Math.Log(Math.Exp(target) / (Math.Exp(target) + Math.Exp(other)));
        double rows = (Ce(2, 0) + Ce(1.6, 1.2)) / 2;    // image → text
        double cols = (Ce(2, 1.2) + Ce(1.6, 0)) / 2;    // text → image
        Assert.Equal((rows + cols) / 2, loss, tolerance: 1e-5);
        Assert.NotEqual(rows, cols, 3);                 // the hand case really tells the two directions apart
    }

    [Fact]
    public void StateDictHasOpenClipKeys()
    {
        using var clip = new ClipModel(VisionEncoderConfig.Tiny, Text, new Generator(1));
        var keys = clip.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "visual.trunk.stem.0.weight", "visual.head.proj.weight", "token_embedding.weight", "positional_embedding",
                     "transformer.resblocks.0.attn.in_proj_weight", "transformer.resblocks.0.attn.in_proj_bias", "transformer.resblocks.1.attn.out_proj.weight",
                     "transformer.resblocks.0.ln_1.weight", "transformer.resblocks.0.mlp.c_fc.weight", "transformer.resblocks.0.mlp.c_proj.bias",
                     "transformer.resblocks.0.ln_2.bias", "ln_final.weight", "text_projection", "logit_scale" })
            Assert.Contains(k, keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("text.") || k.StartsWith("visual.head.mlp"));
        Assert.Equal(Math.Log(1 / 0.07), clip.LogitScale.item<float>(), 5);
        Assert.Equal(new long[] { 16, 12 }, clip.state_dict()["text_projection"].shape);
    }

    [Fact]
    public void TextTowerIsCausalAndPoolsAtTheFirstEos()
    {
        using var scope = NewDisposeScope();
        using var enc = new ClipTextEncoder(Text, new Generator(2));
        enc.eval();
        var a = ClipTextEncoder.Tokenize([new[] { 10, 11, 12 }], Text);                          // bos 10 11 12 eos pad pad pad
        Assert.Equal(new long[] { 1, 10, 11, 12, 2, 3, 3, 3 }, a.data<long>().ToArray());
        var b = a.clone();
        b[0, 3] = tensor(20L);                                                                    // change token 3
        var sa = enc.forward(a);
        var sb = enc.forward(b);
        Assert.True(sa.LastHiddenState.narrow(1, 0, 3).allclose(sb.LastHiddenState.narrow(1, 0, 3)));
        Assert.False(sa.LastHiddenState.narrow(1, 3, 1).allclose(sb.LastHiddenState.narrow(1, 3, 1)));
        var proj = enc.state_dict()["text_projection"];
        var expected = sa.LastHiddenState[0, 4].unsqueeze(0).matmul(proj);                      // eos at position 4
        Assert.True(expected.allclose(sa.Pooled, 1e-5, 1e-6));
    }

    [Fact]
    public void TokenizeKeepsEosInTheLastSlotWhenTruncating()
    {
        using var ids = ClipTextEncoder.Tokenize([Enumerable.Range(10, 20).ToArray()], Text);
        Assert.Equal(new long[] { 1, 10, 11, 12, 13, 14, 15, 2 }, ids.data<long>().ToArray());
    }
}
