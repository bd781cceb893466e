using Deem.Inference;
using Deem.Serve;
using Deem.Tests.Inference;
using static TorchSharp.torch;

namespace Deem.Tests.Serve;

/// <summary>Rows with their own settings in one left-padded batch decode as they would alone; a cancelled row stops.</summary>
public class BatchDecoderTests
{
    static List<long> Decode(Deem.Model.DeemModel model, IReadOnlyList<(InterleavedPrompt Prompt, GenerationOptions Options)> rows, int row,
        CancellationToken cancel = default)
    {
        var all = rows.Select(_ => new List<long>()).ToArray();
        BatchDecoder.Run(model, rows.Select((r, b) => new DecodeRow(r.Prompt, r.Options, cancel, t => { all[b].Add(t.Id); return true; })).ToList(), 1024);
        return all[row];
    }

    [Fact]
    public void EachRowOfABatchDecodesAsItWouldAlone()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(11);
        var rows = new (InterleavedPrompt, GenerationOptions)[]
        {
            (InferenceFixtures.Prompt(model, 1, leadingWords: 3, images: 1), GenerationOptions.Greedy(12)),
            (InferenceFixtures.Prompt(model, 2, leadingWords: 9, images: 0), new GenerationOptions(MaxNewTokens: 10, DoSample: true, Temperature: 0.8, Seed: 3)),
            (InferenceFixtures.Prompt(model, 3, leadingWords: 5, images: 2), new GenerationOptions(MaxNewTokens: 14, DoSample: true, TopP: 0.9, Seed: 4, MinNewTokens: 14)),
        };
        for (int b = 0; b < rows.Length; b++)
        {
            var alone = Decode(model, [rows[b]], 0);
            Assert.Equal(alone, Decode(model, rows, b));
            Assert.NotEmpty(alone);
        }
        // Alone, a greedy row is the library's greedy generation.
        var library = new TextGenerator(model).Generate(rows[0].Item1, rows[0].Item2).Tokens;
        Assert.Equal(library, Decode(model, [rows[0]], 0));
        Assert.Equal(14, Decode(model, rows, 2).Count);
    }

    [Fact]
    public void ACancelledRowStopsWhileTheOthersGoOn()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(12);
        using var leave = new CancellationTokenSource();
        var options = new GenerationOptions(MaxNewTokens: 20, MinNewTokens: 20);
        var got = new[] { new List<long>(), new List<long>() };
        BatchDecoder.Run(model,
        [
            new DecodeRow(InferenceFixtures.Prompt(model, 4, 4, 0), options, leave.Token, t => { got[0].Add(t.Id); if (got[0].Count == 3) leave.Cancel(); return true; }),
            new DecodeRow(InferenceFixtures.Prompt(model, 5, 6, 1), options, CancellationToken.None, t => { got[1].Add(t.Id); return true; }),
        ], 1024);
        Assert.Equal(3, got[0].Count);
        Assert.Equal(20, got[1].Count);
    }

    [Fact]
    public void ARowEndsWhenItsConsumerSaysSo()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(13);
        int seen = 0;
        BatchDecoder.Run(model, [new DecodeRow(InferenceFixtures.Prompt(model, 6, 4, 0), new GenerationOptions(MaxNewTokens: 20, MinNewTokens: 20),
            CancellationToken.None, _ => ++seen < 5)], 1024);
        Assert.Equal(5, seen);
    }
}
