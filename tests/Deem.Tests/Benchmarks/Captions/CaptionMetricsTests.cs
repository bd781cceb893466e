using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

public class CaptionMetricsTests
{
    static (string, IReadOnlyList<string>) Item(string candidate, params string[] refs) => (candidate, refs);

    [Theory]
    [InlineData("A man riding a wave on top of a surfboard.", "a man riding a wave on top of a surfboard")]
    [InlineData("Two dogs, playing in the snow!", "two dogs playing in the snow")]
    [InlineData("The dog's ball isn't red.", "the dog 's ball is n't red")]
    [InlineData("A \"big\" cake (with candles) -- yum...", "a big cake with candles yum")]
    [InlineData("Costs $1,000 at 10:30 in the U.S.", "costs $ 1,000 at 10:30 in the u.s.")]
    [InlineData("A well-known street sign; cannot  miss\nit", "a well-known street sign can not miss it")]
    [InlineData("red,white and blue", "red white and blue")]
    [InlineData("A sign [in red] (small)", "a sign -lsb- in red -rsb- small")] // PTB -LSB-/-RSB- are not in the dropped list
    public void PtbStyleTokenisation(string caption, string expected)
    {
        Assert.Equal(expected, PtbTokenizer.Tokenize(caption));
    }

    [Fact]
    public void IdenticalCandidateAndReferenceGiveBleuOne()
    {
        double[] b = Bleu.Corpus([Item("a cat sits on the mat", "a cat sits on the mat")]);
        Assert.All(b, v => Assert.Equal(1.0, v, 9));
    }

    [Fact]
    public void OneWordMismatchByHand()
    {
        // cand "the cat sat on a mat", ref "the cat sat on the mat" (both 6 words → BP = 1)
        // 1-grams: the cat sat on mat match, "a" does not → 5/6
        // 2-grams: the·cat cat·sat sat·on match; on·a a·mat do not → 3/5
        // 3-grams: the·cat·sat cat·sat·on → 2/4;  4-grams: the·cat·sat·on → 1/3
        double[] b = Bleu.Corpus([Item("the cat sat on a mat", "the cat sat on the mat")]);
        Assert.Equal(5.0 / 6, b[0], 9);
        Assert.Equal(Math.Sqrt(5.0 / 6 * 3.0 / 5), b[1], 9);                        // √(1/2)
        Assert.Equal(Math.Pow(5.0 / 6 * 3.0 / 5 * 2.0 / 4, 1.0 / 3), b[2], 9);      // (1/4)^(1/3)
        Assert.Equal(Math.Pow(5.0 / 6 * 3.0 / 5 * 2.0 / 4 * 1.0 / 3, 0.25), b[3], 9); // (1/12)^(1/4)
    }

    [Fact]
    public void BrevityPenaltyUsesTheClosestReferenceLength()
    {
        // cand "the cat sat" (c = 3); ref lengths 6 and 4 → closest is 4 → BP = exp(1 − 4/3).
        // all 1-, 2-, 3-grams of the candidate match → BLEU-1..3 = BP.
        double[] b = Bleu.Corpus([Item("the cat sat", "the cat sat on the mat", "the cat sat there")]);
        Assert.Equal(Math.Exp(1 - 4.0 / 3), b[0], 7);
        Assert.Equal(Math.Exp(1 - 4.0 / 3), b[2], 7); // the 1e-9 smoothing shows at 1e-9
        // ref lengths 2 and 4 are equally close to 3: the shorter (2) is taken → c > r → no penalty
        double[] tie = Bleu.Corpus([Item("the cat sat", "the cat", "the cat sat down")]);
        Assert.Equal(1.0, tie[0], 9);
    }

    [Fact]
    public void BleuSumsCountsOverTheCorpus()
    {
        // image 1: identical 4-word caption (4 unigram matches of 4); image 2: the 5/6 case above.
        // corpus 1-gram precision = (4 + 5) / (4 + 6) = 0.9; lengths 10 vs 10 → no penalty
        double[] b = Bleu.Corpus([Item("a dog on grass", "a dog on grass"), Item("the cat sat on a mat", "the cat sat on the mat")]);
        Assert.Equal(0.9, b[0], 9);
        // 2-grams: (3 + 3) / (3 + 5) = 0.75 → BLEU-2 = √(0.9 · 0.75)
        Assert.Equal(Math.Sqrt(0.9 * 0.75), b[1], 9);
    }

    [Fact]
    public void RougeLByHand()
    {
        // cand "a cat on the mat" (5), ref "the cat sat on the mat" (6): LCS = cat on the mat = 4
        // P = 4/5, R = 4/6; F = 2.44 · P · R / (R + 1.44 · P) = (19.52/15) / (27.28/15) = 19.52 / 27.28
        Assert.Equal(4, RougeL.Lcs("the cat sat on the mat".Split(' '), "a cat on the mat".Split(' ')));
        Assert.Equal(19.52 / 27.28, RougeL.Score("a cat on the mat", ["the cat sat on the mat"]), 9);
        // max P and max R come from different references:
        // ref1 "a cat" → LCS 2: P = 2/5, R = 1; ref2 "the cat sat on the mat" → P = 4/5, R = 2/3
        // P = 4/5, R = 1 → F = 2.44 · 0.8 / (1 + 1.152) = 1.952 / 2.152
        Assert.Equal(1.952 / 2.152, RougeL.Score("a cat on the mat", ["a cat", "the cat sat on the mat"]), 9);
        Assert.Equal(0.0, RougeL.Score("dog", ["a cat"]));
    }

    [Fact]
    public void CiderDOnATwoImageCorpusByHand()
    {
        // N = 2, L = log 2. Reference n-grams: image 1 {a, black, cat, a·black, black·cat, a·black·cat},
        // image 2 {a, dog, a·dog} → df(a) = 2 (weight L − log 2 = 0), every other df = 1 (weight L).
        // Image 1, cand "a cat" vs ref "a black cat":
        //   n=1: cand {a:0, cat:L}, ‖c‖ = L; ref {a:0, black:L, cat:L}, ‖r‖ = L√2 → (L·L)/(L·L√2) = 1/√2
        //   n=2: "a cat" (df 0 → weight L) is not in the ref → 0;  n=3,4: empty candidate vector → 0
        //   lengths = bigram counts 1 and 2 → δ = −1 → penalty exp(−1/72)
        //   score = 10 · mean(1/√2 · e^(−1/72), 0, 0, 0) = 10 · e^(−1/72) / (4√2)
        // Image 2, cand "a dog" vs ref "a dog": n=1 → 1, n=2 → 1, n=3,4 → 0, δ = 0 → 10 · 2/4 = 5
        var items = new[] { Item("a cat", "a black cat"), Item("a dog", "a dog") };
        var (mean, per) = CiderD.Corpus(items);
        double s1 = 10 * Math.Exp(-1.0 / 72) / (4 * Math.Sqrt(2));
        Assert.Equal(s1, per[0], 9);
        Assert.Equal(5.0, per[1], 9);
        Assert.Equal((s1 + 5.0) / 2, mean, 9);
    }

    [Fact]
    public void CiderDClipsRepeatedWordsAndAveragesReferences()
    {
        // Image 1 cand "cat cat" vs ref "cat": N = 2 (image 2 "dog" / "dog"), L = log 2, df(cat) = 1.
        //   n=1: cand {cat: 2L}, ‖c‖ = 2L; ref {cat: L}, ‖r‖ = L → min(2L, L)·L / (2L·L) = 1/2
        //   n=2: "cat cat" not in ref → 0; δ = bigrams 1 − 0 = 1 → e^(−1/72); score = 10 · (1/2)e^(−1/72) / 4
        // Image 2 "dog"/"dog": n=1 → 1, no bigrams anywhere → δ = 0, score = 10 · 1/4 = 2.5
        var (_, per) = CiderD.Corpus([Item("cat cat", "cat"), Item("dog", "dog")]);
        Assert.Equal(10 * 0.5 * Math.Exp(-1.0 / 72) / 4, per[0], 9);
        Assert.Equal(2.5, per[1], 9);
        // two references: the per-reference similarities are averaged ("dog" vs refs "dog" and "cat")
        // N = 2 images, df(dog) = 1, df(cat) = 2 → weight(cat) = 0: ref "cat" has zero norm → 0
        var (_, per2) = CiderD.Corpus([Item("dog", "dog", "cat"), Item("cat", "cat")]);
        Assert.Equal(10 * (1.0 + 0.0) / 2 / 4, per2[0], 9);
    }

    [Fact]
    public void EvaluateTokenisesAndReportsEveryMetric()
    {
        var refs = new Dictionary<string, IReadOnlyList<string>>
        {
            ["1"] = ["A black cat."],
            ["2"] = ["A dog!"],
        };
        var cands = new Dictionary<string, string> { ["1"] = "a cat", ["2"] = "A DOG." };
        var s = CaptionMetrics.Evaluate(refs, cands);
        Assert.Equal((10 * Math.Exp(-1.0 / 72) / (4 * Math.Sqrt(2)) + 5.0) / 2, s.Cider, 9);
        // BLEU-1: matches 2 + 2 of guesses 2 + 2; c = 4, r = 3 + 2 = 5 → BP = exp(1 − 5/4)
        Assert.Equal(Math.Exp(1 - 5.0 / 4), s.Bleu1, 9);
        // ROUGE-L: image 1 P = 1, R = 2/3 → F = 2.44·(2/3) / (2/3 + 1.44); image 2 → 1
        double f1 = 2.44 * (2.0 / 3) / (2.0 / 3 + 1.44);
        Assert.Equal((f1 + 1) / 2, s.RougeL, 9);
        Assert.Throws<ArgumentException>(() => CaptionMetrics.Evaluate(refs, new Dictionary<string, string> { ["1"] = "x" }));
    }
}
