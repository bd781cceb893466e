using Deem.Tests.Attention;
using Deem.Config;
using Deem.Language;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.Attention.AttentionTestUtil;

namespace Deem.Tests.Language;

public class LlamaCrossAttentionTests
{
    private static readonly MmfsConfig Tiny = MmfsConfig.LlmTiny;

    private static MmfsVisionStates Vision(long B, long L, long N, long seed)
    {
        var g = new Generator((ulong)seed);
        var shapes = Tiny.SpatialShapes.Select(s => (s, s)).ToArray();
        var S = shapes.Sum(s => s.Item1 * s.Item2);
        var values = torch.randn(new[] { B, N, S, Tiny.DValue }, generator: g);
        // Batch 0: image 0 from row 1, image 1 from row 3. Batch 1: a new document at row 2 hides image 0.
        var visible = torch.zeros(new[] { B, L, N }, dtype: ScalarType.Bool);
        for (var l = 1; l < L; l++) visible[0, l, 0] = true;
        for (var l = 3; l < L; l++) visible[0, l, 1] = true;
        visible[1, 0, 0] = true;
        visible[1, 1, 0] = true;
        for (var l = 3; l < L; l++) visible[1, l, 1] = true;
        return new MmfsVisionStates(values, shapes, visible);
    }

    private static LlamaCrossAttention Block(double gate)
    {
        var block = new LlamaCrossAttention(Tiny, 1e-6, new Generator(5));
        Randomize(block, 6, 0.1);
        using (torch.no_grad())
        {
            Params(block)["attn.ignore_token"].zero_();
            block.Gate.fill_(gate);
        }
        return block;
    }

    [Fact]
    public void GateZeroAtInitialisationMakesTheBlockTheIdentity()
    {
        var block = new LlamaCrossAttention(Tiny, 1e-6, new Generator(5));
        Assert.Equal(0.0f, block.Gate.item<float>());
        var hidden = torch.randn(new[] { 2L, 5, Tiny.DQuery }, generator: new Generator(1));
        var output = block.forward(new LlamaCrossAttentionInput(hidden, Vision(2, 5, 2, 2)));
        Assert.Equal(0.0, MaxAbsDiff(output, hidden));
    }

    [Fact]
    public void OpenGateAddsTheGatedAttentionAndTokensWithoutImagesStayUnchanged()
    {
        var block = Block(0.7);
        using (torch.no_grad()) Params(block)["attn.output_proj.bias"].zero_();
        var hidden = torch.randn(new[] { 2L, 5, Tiny.DQuery }, generator: new Generator(1));
        var output = block.forward(new LlamaCrossAttentionInput(hidden, Vision(2, 5, 2, 2)));
        // Row 0 of batch 0 and row 2 of batch 1 see no image: only the ignore slot, zero after output_proj.
        Assert.True(MaxAbsDiff(output[0, 0], hidden[0, 0]) < 1e-6);
        Assert.True(MaxAbsDiff(output[1, 2], hidden[1, 2]) < 1e-6);
        Assert.True(MaxAbsDiff(output[0, 1], hidden[0, 1]) > 1e-3);
        Assert.True(MaxAbsDiff(output[1, 0], hidden[1, 0]) > 1e-3);
    }

    [Fact]
    public void IncrementalDecodingEqualsTheFullSequence()
    {
        var block = Block(0.7);
        var (B, L, N) = (2L, 5L, 2L);
        var hidden = torch.randn(new[] { B, L, Tiny.DQuery }, generator: new Generator(1));
        var vision = Vision(B, L, N, 2);
        var full = block.forward(new LlamaCrossAttentionInput(hidden, vision));
        for (long t = 0; t < L; t++)
        {
            var step = hidden.narrow(1, t, 1);                                               // [B, 1, D]
            var sliced = block.forward(new LlamaCrossAttentionInput(step, vision.SliceQueries(t, 1)));
            var history = block.forward(new LlamaCrossAttentionInput(step,
                vision with { Visible = vision.Visible.narrow(1, 0, t + 1) }));             // [B, t+1, N]: last row used
            Assert.Equal(new[] { B, 1L, Tiny.DQuery }, sliced.shape);
            Assert.True(MaxAbsDiff(sliced, full.narrow(1, t, 1)) < 1e-5, $"step {t}: {MaxAbsDiff(sliced, full.narrow(1, t, 1))}");
            Assert.True(MaxAbsDiff(history, sliced) < 1e-6);
        }
    }

    [Fact]
    public void GradientsReachTheGateAndTheAttention()
    {
        var block = new LlamaCrossAttention(Tiny, 1e-6, new Generator(5));
        var hidden = torch.randn(new[] { 2L, 5, Tiny.DQuery }, generator: new Generator(1));
        block.forward(new LlamaCrossAttentionInput(hidden, Vision(2, 5, 2, 2))).square().sum().backward();
        var p = Params(block);
        // At gate 0 only the gate itself has a gradient (tanh'(0) = 1); the MMFS gets one once the gate opens.
        Assert.True(p["gate"].grad!.abs().item<float>() > 0);
        Assert.Equal(0.0f, p["attn.value_proj.weight"].grad!.abs().max().item<float>());
        Assert.Null(p["attn.ignore_token"].grad);

        using (torch.no_grad()) block.Gate.fill_(0.5);
        block.zero_grad();
        block.forward(new LlamaCrossAttentionInput(hidden, Vision(2, 5, 2, 2))).square().sum().backward();
        foreach (var k in new[] { "attn.value_proj.weight", "attn.sampling_offsets.weight", "attn.attention_weights.weight",
                     "attn.dynamic_offset_mask.weight", "attn.query_relpos.weight", "attn.output_proj.weight", "norm1.weight", "norm2.weight" })
            Assert.True(p[k].grad!.abs().max().item<float>() > 0, $"{k} has no gradient");
    }

    [Fact]
    public void StateDictKeysFollowTheReferenceModule()
    {
        var keys = new LlamaCrossAttention(Tiny, 1e-6).state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "gate", "norm1.weight", "norm2.weight", "attn.sampling_offsets.weight", "attn.ignore_token",
                     "attn.dynamic_offset_mask.weight", "attn.attention_weights.bias", "attn.value_proj.weight",
                     "attn.output_proj.bias", "attn.query_relpos.weight" })
            Assert.Contains(k, keys);
        Assert.Equal(15, keys.Count);
    }
}

[Collection(GlobalTorchStateCollection.Name)]
public class LlamaCrossAttentionPaperScaleTests
{
    [Fact]
    public void EightPaperScaleBlocksHaveTheReferenceParameterCount()
    {
        var (total, trainable) = OnMeta(() =>
        {
            long t = 0, tr = 0;
            for (var i = 0; i < 8; i++)
            {
                var (a, b) = Count(new LlamaCrossAttention(MmfsConfig.LlmPaper7B, 1e-5));
                t += a;
                tr += b;
            }
            return (t, tr);
        });
        // Reference §1.11: 8 × 25.06 M = 200,463,752 trainable; the frozen zero ignore tokens add 8 × 1024.
        Assert.Equal(200_463_752L, trainable);
        Assert.Equal(200_463_752L + 8 * 1024, total);
    }
}
