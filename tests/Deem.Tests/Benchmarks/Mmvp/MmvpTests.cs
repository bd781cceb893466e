using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

public sealed class MmvpTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "deem-mmvp-" + Guid.NewGuid().ToString("N"));

    public MmvpTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    static readonly IReadOnlyList<MmvpOption> OpenClosed = Mmvp.ParseOptions("(a) Open (b) Closed");

    [Fact]
    public void OptionsAreParsedFromTheOfficialFormat()
    {
        Assert.Equal([new MmvpOption('a', "Open"), new MmvpOption('b', "Closed")], OpenClosed);
        Assert.Equal([new MmvpOption('a', "Yes, it is"), new MmvpOption('b', "No")], Mmvp.ParseOptions("(a) Yes, it is (b) No"));
    }

    [Theory]
    [InlineData("(a)", 'a')]
    [InlineData("a", 'a')]
    [InlineData("A", 'a')]
    [InlineData("a)", 'a')]
    [InlineData("B.", 'b')]
    [InlineData("b) Closed", 'b')]
    [InlineData("Open", 'a')]
    [InlineData("closed.", 'b')]
    [InlineData("The answer is (b) closed", 'b')]
    [InlineData("The answer is (B) Closed.", 'b')]
    [InlineData("Closed (b)", 'b')]
    [InlineData("The answer is b", 'b')]
    [InlineData("Option A", 'a')]
    [InlineData("The door is closed.", 'b')]
    [InlineData("a closed door", 'b')]       // "a" followed by a word is an article, not a letter
    [InlineData("The wings are open", 'a')]
    public void AnswersMapToOneOption(string answer, char expected)
    {
        Assert.Equal(expected, Mmvp.ParseOption(answer, OpenClosed));
    }

    [Theory]
    [InlineData("(a) Open (b) Closed")]  // two markers
    [InlineData("open or closed")]       // both texts
    [InlineData("I don't know")]         // neither
    [InlineData("(c)")]                  // not an option
    [InlineData("reopened")]             // texts only match as whole words
    [InlineData("")]
    public void AmbiguousOrEmptyAnswersMapToNothing(string answer)
    {
        Assert.Null(Mmvp.ParseOption(answer, OpenClosed));
    }

    [Fact]
    public void ALongerOptionWinsOverOneItContains()
    {
        var opts = Mmvp.ParseOptions("(a) red (b) dark red");
        Assert.Equal('b', Mmvp.ParseOption("It is dark red", opts));
        Assert.Equal('a', Mmvp.ParseOption("red", opts));
    }

    void WriteCsv(string text) => File.WriteAllText(Path.Combine(_dir, Mmvp.QuestionsFile), text);

    [Fact]
    public void LoadsTheOfficialLayoutAndScoresPairs()
    {
        WriteCsv("Index,Question,Options,Correct Answer\r\n" +
                 "1,Are the butterfly's wings closer to being open or closed?,(a) Open (b) Closed,(a)\r\n" +
                 "2,Are the butterfly's wings closer to being open or closed?,(a) Open (b) Closed,(b)\r\n" +
                 "3,\"Is the dog, or the cat, facing left?\",(a) Dog (b) Cat,(a)\r\n" +
                 "4,\"Is the dog, or the cat, facing left?\",(a) Dog (b) Cat,(b)\r\n");
        var qs = Mmvp.Load(_dir);
        Assert.Equal(4, qs.Count);
        Assert.Equal("Is the dog, or the cat, facing left?", qs[2].Question);
        Assert.Equal('b', qs[1].Correct);
        Assert.Equal(Path.Combine(_dir, "MMVP Images", "3.jpg"), qs[2].ImagePath);
        Assert.Equal("Are the butterfly's wings closer to being open or closed? (a) Open (b) Closed", Mmvp.Prompt(qs[0]));

        // Q1 "(a) Open" → a ✓, Q2 "Closed" → b ✓ → pair 1 right.
        // Q3 "(a)" → a ✓, Q4 "a" → a ✗ (correct b) → pair 2 wrong.
        var s = Mmvp.Score(qs, ["(a) Open", "Closed", "(a)", "a"]);
        Assert.Equal((1, 2, 3, 4), (s.PairsCorrect, s.Pairs, s.QuestionsCorrect, s.Questions));
        Assert.Equal(50.0, s.PairAccuracy, 12);
        Assert.Equal(75.0, s.QuestionAccuracy, 12);

        // the same answers in another order are scored by index
        var shuffled = new[] { qs[3], qs[0], qs[2], qs[1] };
        Assert.Equal(s, Mmvp.Score(shuffled, ["a", "(a) Open", "(a)", "Closed"]));
        Assert.Throws<ArgumentException>(() => Mmvp.Score(qs.Take(3).ToArray(), ["a", "b", "a"]));
    }

    [Fact]
    public void BadRowsAreFormatErrors()
    {
        WriteCsv("Index,Question,Options,Correct Answer\n1,Q?,(a) Open (b) Closed,(c)\n");
        Assert.Throws<DeemFormatException>(() => Mmvp.Load(_dir));
        WriteCsv("Index,Question,Options\n1,Q?,(a) Open (b) Closed\n");
        Assert.Throws<DeemFormatException>(() => Mmvp.Load(_dir));
    }
}
