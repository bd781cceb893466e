using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

public class VqaAccuracyTests
{
    [Theory]
    [InlineData("two", "2")]                  // number word → digit
    [InlineData("None", "0")]                 // lowercased first, then "none" → "0"
    [InlineData("ten dogs", "10 dogs")]
    [InlineData("a dog", "dog")]              // articles dropped
    [InlineData("The red car", "red car")]
    [InlineData("dont", "don\u2019t")]        // official map uses a curly apostrophe here
    [InlineData("cant", "can't")]             // ... and a straight one here
    [InlineData("yes.", "yes")]               // '.' not followed by a digit is removed
    [InlineData("3.5", "3.5")]                // '.' followed by a digit is kept
    [InlineData("1,000", "1000")]             // digit,digit → every punctuation mark is deleted, not spaced
    [InlineData("red/white", "red white")]    // '/' touches no space → replaced by a space
    [InlineData("red / white", "red white")]  // '/' touches a space → deleted; split() collapses spaces
    [InlineData("don't", "don t")]            // the apostrophe is punctuation: the official normaliser splits it
    [InlineData("  Yes\n", "yes")]
    public void Normalisation_matches_the_official_rules(string input, string expected)
    {
        Assert.Equal(expected, VqaAccuracy.NormalizePrediction(input));
    }

    [Fact]
    public void Period_strip_stops_after_32_replacements_like_the_official_call()
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
    [InlineData(10, 1.0)]
    public void Leave_one_out_accuracy_by_hand(int agreeing, double expected)
    {
        Assert.Equal(expected, VqaAccuracy.Score("two", Humans(agreeing)), 12);
    }

    [Fact]
    public void Human_answers_get_punctuation_processing_only_when_they_differ()
    {
        // all ten identical "yes." → left untouched → "yes" never equals "yes." → 0
        Assert.Equal(0.0, VqaAccuracy.Score("yes", Enumerable.Repeat("yes.", 10).ToArray()));
        // one differs → every human answer is punctuation-processed → "yes." becomes "yes"; 9 × "yes." + 1 × "no"
        // → leaving out a "yes" leaves 8 matches, leaving out "no" leaves 9: all ≥ 3 → 1.0
        string[] humans = [.. Enumerable.Repeat("yes.", 9), "no"];
        Assert.Equal(1.0, VqaAccuracy.Score("Yes", humans), 12);
    }

    [Fact]
    public void Extractor_runs_before_normalisation_when_asked()
    {
        // "The answer is two." → Extract → "two" → "2"
        Assert.Equal(1.0, VqaAccuracy.Score("The answer is two.", Humans(10), useExtractor: true), 12);
        // without the extractor: "the answer is two" → "answer is 2" ≠ "2"
        Assert.Equal(0.0, VqaAccuracy.Score("The answer is two.", Humans(10)), 12);
        double pct = VqaAccuracy.AccuracyPercent(["two", "five"], [Humans(3), Humans(10)]);
        Assert.Equal(45.0, pct, 10); // (0.9 + 0) / 2
    }
}
