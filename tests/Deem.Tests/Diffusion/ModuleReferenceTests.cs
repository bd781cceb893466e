using Deem.Diffusion;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Tests.Diffusion;

/// <summary>Building blocks against slow references written here from the diffusers definitions.</summary>
public class ModuleReferenceTests
{
    [Fact]
    public void CrossAttentionMatchesAPerHeadSoftmaxReference()
    {
        var g = new Generator(3);
        using var attn = new DiffusersAttention(queryDim: 8, contextDim: 6, heads: 2, headDim: 4, bias: false);
        var sd = attn.state_dict();
        Assert.False(sd.ContainsKey("to_q.bias"));
        var x = randn([2, 5, 8], generator: g);
        var c = randn([2, 3, 6], generator: g);
        using var _ = no_grad();
        var y = attn.forward(x, c);

        var q = x.matmul(sd["to_q.weight"].t());
        var k = c.matmul(sd["to_k.weight"].t());
        var v = c.matmul(sd["to_v.weight"].t());
        var heads = new List<Tensor>();
        for (int h = 0; h < 2; h++)
        {
            var qh = q[.., .., (h * 4)..((h + 1) * 4)];
            var kh = k[.., .., (h * 4)..((h + 1) * 4)];
            var vh = v[.., .., (h * 4)..((h + 1) * 4)];
            var w = (qh.matmul(kh.transpose(1, 2)) / Math.Sqrt(4)).softmax(-1); // [B, N, M]
            heads.Add(w.matmul(vh));
        }
        var expected = cat(heads, -1).matmul(sd["to_out.0.weight"].t()) + sd["to_out.0.bias"];
        Assert.True(allclose(y, expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void ResnetBlockMatchesItsFormula()
    {
        var g = new Generator(4);
        using var block = new ResnetBlock2D(8, 16, 12, groups: 4, eps: 1e-5);
        var sd = block.state_dict();
        var x = randn([2, 8, 5, 5], generator: g);
        var temb = randn([2, 12], generator: g);
        using var _ = no_grad();
        var y = block.forward(x, temb);

        var h = F.conv2d(F.silu(F.group_norm(x, 4, sd["norm1.weight"], sd["norm1.bias"], 1e-5)), sd["conv1.weight"], sd["conv1.bias"], padding: [1, 1]);
        h = h + (F.silu(temb).matmul(sd["time_emb_proj.weight"].t()) + sd["time_emb_proj.bias"]).reshape(2, 16, 1, 1);
        h = F.conv2d(F.silu(F.group_norm(h, 4, sd["norm2.weight"], sd["norm2.bias"], 1e-5)), sd["conv2.weight"], sd["conv2.bias"], padding: [1, 1]);
        var expected = F.conv2d(x, sd["conv_shortcut.weight"], sd["conv_shortcut.bias"]) + h;
        Assert.True(allclose(y, expected, rtol: 1e-5, atol: 1e-5));
        Assert.Throws<ArgumentException>(() => block.forward(x, null));
    }

    [Fact]
    public void VaeAttentionIsSingleHeadSpatialSelfAttentionWithResidual()
    {
        var g = new Generator(5);
        using var attn = new VaeAttentionBlock(8, groups: 4);
        var sd = attn.state_dict();
        var x = randn([1, 8, 3, 4], generator: g);
        using var _ = no_grad();
        var y = attn.forward(x);

        var t = F.group_norm(x, 4, sd["group_norm.weight"], sd["group_norm.bias"], 1e-6).reshape(1, 8, 12).transpose(1, 2); // [1, 12, 8]
        Tensor Lin(Tensor a, string n) => a.matmul(sd[n + ".weight"].t()) + sd[n + ".bias"];
        var w = (Lin(t, "to_q").matmul(Lin(t, "to_k").transpose(1, 2)) / Math.Sqrt(8)).softmax(-1);
        var o = Lin(w.matmul(Lin(t, "to_v")), "to_out.0");                                   // [1, 12, 8]
        var expected = o.transpose(1, 2).reshape(1, 8, 3, 4) + x;
        Assert.True(allclose(y, expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void VaeDownsamplePadsOnlyBottomAndRight()
    {
        var g = new Generator(6);
        using var down = new Downsample2D(2, padding: 0);
        var sd = down.state_dict();
        var x = randn([1, 2, 6, 6], generator: g);
        using var _ = no_grad();
        var expected = F.conv2d(F.pad(x, [0, 1, 0, 1]), sd["conv.weight"], sd["conv.bias"], strides: [2, 2]);
        var y = down.forward(x);
        Assert.Equal(new long[] { 1, 2, 3, 3 }, y.shape);
        Assert.True(allclose(y, expected, rtol: 1e-5, atol: 1e-6));
    }
}
