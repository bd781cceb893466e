using Deem.Language;
using Deem.Training;
using Deem.World;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

public class YesNoAnswersTests
{
    const long Yes = 2, No = 3;
    static readonly YesNoTokens Tokens = new(Yes, No);

    [Fact]
    public void TheWorldsTokenizerWritesYesAndNoAsOneTokenEach()
    {
        var t = YesNoTokens.Of(WorldTokenizer.Default);
        Assert.NotNull(t);
        Assert.Equal("yes", WorldTokenizer.Default.Decode([(int)t.Value.Yes]));
        Assert.Equal("no", WorldTokenizer.Default.Decode([(int)t.Value.No]));
    }

    [Fact]
    public void EachYesOrNoLabelIsScoredByTheLogitsOfThePositionBeforeIt()
    {
        // Vocabulary of 5; two rows of length 5, so labels [2, 4]: position j's logits predict label j.
        var logits = zeros(2, 5, 5);                                                 // [B, L, V]
        var labels = tensor(new long[,] { { 1, Yes, NextTokenLoss.IgnoreIndex, No }, { No, 4, Yes, 0 } });   // [B, L-1]
        void Say(int row, int pos, long token) => logits[row, pos, token] = tensor(5.0f);
        Say(0, 1, Yes);   // label "yes", says yes: right
        Say(0, 3, Yes);   // label "no", says yes: wrong
        Say(1, 0, No);    // label "no", says no: right
        Say(1, 2, No);    // label "yes", says no: wrong
        Say(0, 2, Yes);   // an ignored label and the last position (no label) are never counted
        Say(0, 4, Yes);
        var c = YesNoCount.Of(logits, labels, Tokens);
        Assert.Equal(new YesNoCount(Correct: 2, Total: 4, SaidYes: 2), c);
        Assert.Equal(0.5, c.Accuracy);
        Assert.Equal(0.5, c.YesRatio);

        // Only the two answers' logits compete: a larger logit of another word does not change the call.
        logits[1, 2, 4] = tensor(9.0f);
        logits[1, 2, Yes] = tensor(6.0f);
        Assert.Equal(new YesNoCount(3, 4, 3), YesNoCount.Of(logits, labels, Tokens));
    }

    [Fact]
    public void WithoutAYesOrNoLabelThereIsNoAccuracy()
    {
        var c = YesNoCount.Of(zeros(1, 3, 5), tensor(new long[,] { { 1, 4 } }), Tokens);
        Assert.Equal(0, c.Total);
        Assert.Null(c.Accuracy);
        Assert.Null(c.YesRatio);
        Assert.Equal(new YesNoCount(1, 2, 1), new YesNoCount(1, 1, 0) + new YesNoCount(0, 1, 1));
    }

    [Fact]
    public void LabelsOfAnotherLengthAreAnErrorNamingTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => YesNoCount.Of(zeros(1, 4, 5), zeros(1, 4, dtype: ScalarType.Int64), Tokens));
        Assert.Contains("L-1=3", e.Message);
    }
}
