using Deem.World.Benchmarks;

namespace Deem.Tests.World.Benchmarks;

public class ClipBlindPairsTests
{
    // Six images asked two questions; similarities chosen by hand.
    static readonly string[] Questions = ["q1", "q1", "q1", "q1", "q2", "q2"];
    static readonly string[] Answers = ["left", "right", "left", "up", "red", "red"];

    static double[][] Similarity()
    {
        var s = new double[6][];
        for (int i = 0; i < 6; i++) { s[i] = new double[6]; s[i][i] = 1; }
        void Set(int i, int j, double v) { s[i][j] = v; s[j][i] = v; }
        Set(0, 1, 0.90); Set(0, 2, 0.99); Set(0, 3, 0.80); Set(1, 2, 0.95); Set(1, 3, 0.70); Set(2, 3, 0.85);
        Set(4, 5, 0.999); Set(0, 4, 0.995); Set(1, 5, 0.97);
        return s;
    }

    [Fact]
    public void MinesTheMostSimilarPairsWithDifferentAnswersToTheSameQuestion()
    {
        var pairs = ClipBlindPairs.Mine(Similarity(), Questions, Answers, count: 10);
        // (4,5) same answer, (0,2) same answer, (0,4)/(1,5) different questions: never taken.
        // Best valid: (1,2) 0.95; then 0 and 3 are left: (0,3) 0.80.
        Assert.Equal([new MinedPair(1, 2, 0.95), new MinedPair(0, 3, 0.80)], pairs);
    }

    [Fact]
    public void CountAndThresholdLimitThePairs()
    {
        Assert.Equal([new MinedPair(1, 2, 0.95)], ClipBlindPairs.Mine(Similarity(), Questions, Answers, count: 1));
        Assert.Equal([new MinedPair(1, 2, 0.95)], ClipBlindPairs.Mine(Similarity(), Questions, Answers, count: 10, minSimilarity: 0.9));
        Assert.Empty(ClipBlindPairs.Mine(Similarity(), Questions, Answers, count: 10, minSimilarity: 0.96));
    }

    [Fact]
    public void TiesAreBrokenByIndexAndEachImageIsUsedOnce()
    {
        var s = Enumerable.Range(0, 4).Select(_ => Enumerable.Repeat(0.5, 4).ToArray()).ToArray();
        var pairs = ClipBlindPairs.Mine(s, ["q", "q", "q", "q"], ["a", "b", "c", "d"], count: 5);
        Assert.Equal([new MinedPair(0, 1, 0.5), new MinedPair(2, 3, 0.5)], pairs);
    }

    [Fact]
    public void CosineMatrixIsScaleFree()
    {
        var m = ClipBlindPairs.CosineMatrix([[1f, 0f], [3f, 0f], [0f, 2f], [1f, 1f]]);
        Assert.Equal(1.0, m[0][1], 12);
        Assert.Equal(0.0, m[0][2], 12);
        Assert.Equal(Math.Sqrt(0.5), m[1][3], 12);
        Assert.Equal(1.0, m[3][3], 12);
    }

    [Fact]
    public void MismatchedInputsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => ClipBlindPairs.Mine(Similarity(), ["q"], Answers, 1));
    }

    [Fact]
    public void MmvpBreakdownSplitsPairsByWhatClipSaw()
    {
        string dir = Path.Combine(Path.GetTempPath(), "deem-mmvp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string pairs = Path.Combine(dir, "pairs.jsonl"), preds = Path.Combine(dir, "preds.jsonl");
            File.WriteAllLines(pairs,
            [
                """{"pair":1,"indices":[1,2],"attribute":"colour","clip_seen":true}""",
                """{"pair":2,"indices":[3,4],"attribute":"orientation","clip_seen":false}""",
                """{"pair":3,"indices":[5,6],"attribute":"count","clip_seen":false}""",
            ]);
            File.WriteAllLines(preds,
            [
                """{"id":"1","correct":true}""", """{"id":"2","correct":true}""", """{"id":"3","correct":true}""",
                """{"id":"4","correct":false}""", """{"id":"5","correct":true}""", """{"id":"6","correct":true}""",
            ]);
            var (seen, unseen) = WorldBreakdown.MmvpBySeen(pairs, preds);
            Assert.Equal(100.0, seen);
            Assert.Equal(50.0, unseen);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
