using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

/// <summary>
/// Each expected value below is derived by hand from the rules of reference §6.1 as the authors' code
/// applies them (Python <c>split(marker)[1]</c> keeps the part between the first and second marker).
/// </summary>
public class AnswerExtractorTests
{
    [Theory]
    // "The answer is yes." → cut at '.' → "The answer is yes" → lower → "the answer is yes"
    // → "is " present: split = ["the answer ", "yes"] → "yes"; no "are ", "a ", "an ", "the " left → "yes".
    [InlineData("The answer is yes.", "yes")]
    // "Yes, it is a cat" → cut at ',' → "Yes" → "yes"; no marker matches → "yes".
    [InlineData("Yes, it is a cat", "yes")]
    // quotes removed → "No\nmore" → first line "No" → "no".
    [InlineData("\"No\"\nmore", "no")]
    // "it is an apple of the tree" → "is ": ["it ", "an apple of the tree"] → "an apple of the tree";
    // "a " does not occur (each 'a' is followed by a letter); "an ": ["", "apple of the tree"]
    // → "apple of the tree"; "the ": ["apple of ", "tree"] → "tree"; " of" not in "tree" → "tree".
    [InlineData("It is an apple of the tree", "tree")]
    // "this is a cat" → "is " occurs inside "this" and again: ["th", "", "a cat"] → [1] = "" → "".
    [InlineData("This is a cat.", "")]
    // "they are dogs and cats" → "are ": ["they ", "dogs and cats"] → "dogs and cats";
    // no "a "/"an "/"the "; cut before " and " → "dogs".
    [InlineData("They are dogs and cats", "dogs")]
    // "a banana split" → "a " occurs at 0 and at the end of "banana ": ["", "banan", "split"] → "banan".
    [InlineData("A banana split", "banan")]
    // strip removes the leading "  \n " → first line "Tabby cat: [yes]" → lower; no marker → "tabby cat: [yes]".
    [InlineData("  \n Tabby cat: [yes]\nsecond", "tabby cat: [yes]")]
    // "the object is a great white shark or a tiger shark" → "is ": [..., "a great white shark or a tiger shark"]
    // → "a ": ["", "great white shark or ", "tiger shark"] → "great white shark or "; "the " absent;
    // cut before " or " → "great white shark".
    [InlineData("The object is a great white shark or a tiger shark", "great white shark")]
    // "it is what it is not" → "is ": ["it ", "what it ", "not"] → "what it " → strip → "what it".
    [InlineData("It is what it is not", "what it")]
    // "there are three of them" → "are ": ["there ", "three of them"] → "three of them";
    // "the " occurs inside "them"? no ("them" is followed by end) → cut before " of" → "three".
    [InlineData("There are three of them", "three")]
    // "the main object is the hen" (cut at ',') → "is ": ["the main object ", "the hen"] → "the hen"
    // → "the ": ["", "hen"] → "hen".
    [InlineData("The main object is the hen, not a rooster", "hen")]
    // "Yes!" → cut at '!' → "yes".
    [InlineData("Yes!", "yes")]
    // "an otter" → "an ": ["", "otter"] → "otter".
    [InlineData("an otter", "otter")]
    public void ExtractFollowsTheRulesStepByStep(string response, string expected)
    {
        Assert.Equal(expected, AnswerExtractor.Extract(response));
    }

    [Fact]
    public void BracketsAndColonsBecomeSpacesForMatching()
    {
        // Extract → "tabby cat: [yes]" → ':' '[' ']' → spaces → "tabby cat   yes "
        Assert.Equal("tabby cat   yes ", AnswerExtractor.ExtractForMatch("Tabby cat: [yes]"));
        // the ground truth is compared after strip, case-insensitively
        Assert.True(AnswerExtractor.Matches("The answer is Yes.", "YES"));
        Assert.True(AnswerExtractor.Matches("It is a Great White Shark.", "great white shark"));
        Assert.False(AnswerExtractor.Matches("This is a cat.", "cat")); // the quirk gives ""
        Assert.True(AnswerExtractor.Matches("[goldfish]", "goldfish")); // "[goldfish]" → " goldfish " → stripped
    }

    [Fact]
    public void AccuracyIsAPercentageOfExactMatches()
    {
        string[] responses = ["Yes.", "No, it is not.", "The answer is yes", "maybe"];
        string[] gts = ["yes", "no", "no", "yes"];
        // hits: "yes"=yes ✓, "no"=no ✓, "yes"≠no ✗, "maybe"≠yes ✗ → 2/4 = 50 %
        Assert.Equal(50.0, AnswerExtractor.AccuracyPercent(responses, gts), 12);
        Assert.Throws<ArgumentException>(() => AnswerExtractor.AccuracyPercent(responses, ["yes"]));
    }
}
