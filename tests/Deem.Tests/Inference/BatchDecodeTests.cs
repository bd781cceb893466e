using Deem;
using Deem.Inference;
using static TorchSharp.torch;

namespace Deem.Tests.Inference;

/// <summary>The batched decode of the paper-scale benchmark, on the tiny model.</summary>
public class BatchDecodeTests
{
    [Fact]
    public void EveryRowOfABatchDecodesWhatBatchOneDecodes()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(6);
        var prompt = InferenceFixtures.Prompt(model, 7, 3, 1);
        var single = BatchDecode.Run(model, prompt, batch: 1, steps: 6);
        var batched = BatchDecode.Run(model, prompt, batch: 4, steps: 6);
        Assert.Equal(7, single.Tokens[0].Length);                                  // the first token and one per step
        Assert.Equal(4, batched.Tokens.Length);
        foreach (var row in batched.Tokens)
            Assert.Equal(single.Tokens[0], row);
        Assert.Equal(24.0 / batched.StepSeconds, batched.TokensPerSecond, 6);
        var greedy = new TextGenerator(model).Generate([prompt], new GenerationOptions(MaxNewTokens: 7, MinNewTokens: 7));
        Assert.Equal(greedy[0].Tokens, single.Tokens[0]);
    }

    [Fact]
    public void ABatchBelowOneIsRefused()
    {
        using var model = InferenceFixtures.Model(6);
        var prompt = InferenceFixtures.Prompt(model, 7, 3, 0);
        Assert.Throws<DeemConfigException>(() => BatchDecode.Run(model, prompt, batch: 0, steps: 2));
    }
}
