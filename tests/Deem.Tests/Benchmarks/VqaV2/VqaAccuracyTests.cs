using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

/// <summary>Hand cases of the official VQAv2 evaluator's rules (vqaEval.py, GT-Vision-Lab/VQA master).</summary>
public class VqaAccuracyTests
{
    [Theory]
    [InlineData("two", "2")]                  // number word → digit
    [InlineData("None", "0")]                 // lowercased first, then "none" → "0"
    [InlineData("ten dogs", "10 dogs")]
    [InlineData("a dog", "dog")]              // articles dropped
    [InlineData("The red car", "red car")]
    [InlineData("dont", "don't")]             // contraction table: straight apostrophes
    [InlineData("cant", "can't")]
    [InlineData("Im", "im")]                  // the capitalised key never matches after lowercasing
    [InlineData("yes.", "yes")]               // '.' not followed by a digit is removed
    [InlineData("3.5", "3.5")]                // '.' followed by a digit is kept
    [InlineData("1,000", "1000")]             // digit,digit → every punctuation mark is deleted, not spaced
    [InlineData("red/white", "red white")]    // '/' touches no space → replaced by a space
    [InlineData("red / white", "red white")]  // '/' touches a space → deleted; split() collapses spaces
    [InlineData("don't", "don't")]            // the apostrophe is not in the punctuation list
    [InlineData("10:30", "10:30")]            // nor is ':'
    [InlineData("well-known", "well known")]  // '-' is
    [InlineData("yes!", "yes")]               // '!' is; touching no space → a space, stripped by split
    public void NormalisationMatchesTheOfficialRules(string input, string expected)
    {
        Assert.Equal(expected, VqaAccuracy.Normalize(VqaAccuracy.Clean(input)));
    }

    [Theory]
    [InlineData("  yes\n", "yes")]
    [InlineData("\tred car \n", "red car")]
    [InlineData("a\nb", "a b")]
    [InlineData("\u3000yes\u00a0", "yes")]    // Python's strip() whitespace set
    [InlineData("\x1cyes\x1f", "yes")]        // ... which includes the separators U+001C..U+001F
    public void CleanReplacesNewlinesAndTabsAndStrips(string input, string expected)
    {
        Assert.Equal(expected, VqaAccuracy.Clean(input));
    }

    [Fact]
    public void PeriodStripStopsAfter32ReplacementsLikeTheOfficialCall()
    {
        // 33 × "x." : the first 32 periods go, the 33rd stays (re.UNICODE = 32 is passed as count)
        string input = string.Concat(Enumerable.Repeat("x.", 33));
        Assert.Equal(new string('x', 33) + ".", VqaAccuracy.ProcessPunctuation(input));
    }

    static string[] Humans(int agreeing, string answer = "2", string other = "3") =>
        Enumerable.Range(0, 10).Select(i => i < agreeing ? answer : other).ToArray();

    [Theory]
    // k of 10 humans gave the prediction. Leaving out one of the k matching humans leaves k-1 matches,
    // leaving out one of the 10-k others leaves k: acc = (k·min(1,(k-1)/3) + (10-k)·min(1,k/3)) / 10.
    [InlineData(0, 0.0)]   // 0
    [InlineData(1, 0.3)]   // (1·0 + 9·1/3)/10 = 3/10
    [InlineData(2, 0.6)]   // (2·1/3 + 8·2/3)/10 = (2/3 + 16/3)/10 = 6/10
    [InlineData(3, 0.9)]   // (3·2/3 + 7·1)/10 = (2 + 7)/10
    [InlineData(4, 1.0)]   // (4·1 + 6·1)/10
    public void LeaveOneOutAccuracyByHand(int agreeing, double expected)
    {
        // the humans differ, so "two" is processed to "2"
        Assert.Equal(expected, VqaAccuracy.Score("two", Humans(agreeing)), 12);
    }

    [Theory]
    // ten identical human answers: neither side is processed, only stripped
    [InlineData("yes", 1.0)]
    [InlineData(" yes\n", 1.0)]
    [InlineData("yes.", 0.0)]
    [InlineData("Yes", 0.0)]
    [InlineData("two", 0.0)]
    public void IdenticalHumansCompareTheStrippedTextOnly(string prediction, double expected)
    {
        string[] humans = Enumerable.Repeat(prediction == "two" ? "2" : "yes", 10).ToArray();
        Assert.Equal(expected, VqaAccuracy.Score(prediction, humans), 12);
    }

    [Theory]
    // nine "yes" and one "no": both sides processed
    [InlineData("yes.", 1.0)]   // → "yes": leaving out a "yes" leaves 8 matches, leaving out "no" leaves 9
    [InlineData("Yes", 1.0)]
    [InlineData("the yes!", 1.0)]
    [InlineData("no", 0.3)]     // one "no": (1·0 + 9·1/3)/10
    public void DifferingHumansProcessBothSides(string prediction, double expected)
    {
        string[] humans = [.. Enumerable.Repeat("yes", 9), "no"];
        Assert.Equal(expected, VqaAccuracy.Score(prediction, humans), 12);
    }

    [Fact]
    public void CurlyAndStraightApostrophesDiffer()
    {
        // "dont" → "don't" (straight) by the table; a human "don’t" (U+2019) is not changed by any rule
        string[] straight = [.. Enumerable.Repeat("don't", 4), .. Enumerable.Repeat("no", 6)];
        string[] curly = [.. Enumerable.Repeat("don\u2019t", 4), .. Enumerable.Repeat("no", 6)];
        Assert.Equal(1.0, VqaAccuracy.Score("dont", straight), 12);
        Assert.Equal(0.0, VqaAccuracy.Score("dont", curly), 12);
        Assert.Equal(1.0, VqaAccuracy.Score("don\u2019t", curly), 12);
    }

    [Fact]
    public void NumberWordsArticlesAndCommasWhenHumansDiffer()
    {
        Assert.Equal(0.9, VqaAccuracy.Score("two", Humans(3)), 12);                         // "two" → "2"
        string[] dogs = [.. Enumerable.Repeat("dog", 9), "cat"];
        Assert.Equal(1.0, VqaAccuracy.Score("a dog", dogs), 12);                            // article dropped
        Assert.Equal(0.0, VqaAccuracy.Score("a dog", Enumerable.Repeat("dog", 10).ToArray()), 12); // not when identical
        string[] thousands = [.. Enumerable.Repeat("1000", 5), .. Enumerable.Repeat("1 000", 5)];
        Assert.Equal(1.0, VqaAccuracy.Score("1,000", thousands), 12);                       // digit-comma-digit → deleted
    }

    [Fact]
    public void IdenticalAnswerRecordsAreLeftOutTogether()
    {
        // the official code leaves out every answer dict equal to the left-out one; with two equal
        // records ("x", same id) leaving one out also drops the other.
        string[] humans = ["x", "x", "x", "x", "y", "y", "y", "y", "y", "y"];
        string[] distinct = Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray();
        string[] twoEqual = ["0", "0", "2", "3", "4", "5", "6", "7", "8", "9"];
        Assert.Equal(1.0, VqaAccuracy.Score("x", humans, distinct), 12);
        // leaving out record 0 or 1 leaves 2 matches (2/3); the others leave ≥ 3 → (2·2/3 + 8)/10
        Assert.Equal((2 * 2.0 / 3 + 8) / 10, VqaAccuracy.Score("x", humans, twoEqual), 12);
    }

    [Fact]
    public void ExtractorRunsBeforeNormalisationWhenAsked()
    {
        // "The answer is two." → Extract → "two" → "2"
        Assert.Equal(0.9, VqaAccuracy.Score("The answer is two.", Humans(3), useExtractor: true), 12);
        // without the extractor: "answer is 2" ≠ "2"
        Assert.Equal(0.0, VqaAccuracy.Score("The answer is two.", Humans(3)), 12);
        double pct = VqaAccuracy.AccuracyPercent(["two", "five"], [Humans(3), Humans(4)]);
        Assert.Equal(45.0, pct, 10); // (0.9 + 0) / 2
    }
}
