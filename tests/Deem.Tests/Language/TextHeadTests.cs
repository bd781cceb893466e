using Deem.Language;
using static TorchSharp.torch;
using static Deem.Tests.Language.LlamaTestData;

namespace Deem.Tests.Language;

public class TextHeadTests
{
    [Fact]
    public void InitZeroesNewRowsSetsBiasesAndFreezesHead()
    {
        using var head = new TextHead(8, 20, 6, generator: new Generator(1));
        Assert.Equal(14, head.BaseVocabSize);
        Assert.Equal(0f, head.HeadWeight.narrow(0, 14, 6).abs().sum().item<float>());
        Assert.True(head.HeadWeight.narrow(0, 0, 14).abs().sum().item<float>() > 0);
        var bias = head.HeadBias.data<float>().ToArray();
        Assert.All(bias.Take(14), b => Assert.Equal(0f, b));
        Assert.All(bias.Skip(14), b => Assert.Equal(-100f, b));
        Assert.Equal(0f, head.HeadNewWeight.abs().sum().item<float>());
        Assert.All(head.HeadNewBiasParameter.data<float>().ToArray(), b => Assert.Equal(95f, b));
        Assert.False(head.HeadWeight.requires_grad);
        Assert.False(head.HeadBias.requires_grad);
        Assert.True(head.HeadNewWeight.requires_grad);
        Assert.Equal(new[] { "head.bias", "head.weight", "head_new.bias", "head_new.weight" },
                     head.state_dict().Keys.Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void LogitsAreBaseHeadPlusHeadNewOnTheNewTokens()
    {
        using var head = new TextHead(8, 20, 6, generator: new Generator(2));
        using var lm = Random(3, 14, 8);
        head.LoadLmHead(lm);
        Assert.True(head.HeadWeight.narrow(0, 0, 14).eq(lm).all().item<bool>());

        using var h = Random(4, 2, 3, 8);
        using var logits = head.forward(h);
        Assert.Equal(new long[] { 2, 3, 20 }, logits.shape);
        using var expectedBase = h.matmul(lm.t());
        Assert.True(logits.narrow(-1, 0, 14).allclose(expectedBase, 1e-5, 1e-5));
        Assert.True(logits.narrow(-1, 14, 6).allclose(full(2, 3, 6, -5f), 1e-5, 1e-5), "new tokens start at −100 + 95");

        logits.sum().backward();
        Assert.NotNull(head.HeadNewWeight.grad);
        Assert.Null(head.HeadWeight.grad);
    }

    [Fact]
    public void LoadRejectsAWrongWidth()
    {
        using var head = new TextHead(8, 20, 6);
        using var bad = zeros(14, 7);
        Assert.Throws<ArgumentException>(() => head.LoadLmHead(bad));
    }
}
