using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

public sealed class PopeTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "deem-pope-" + Guid.NewGuid().ToString("N"));

    public PopeTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // answer, label, official reading (true = yes), DEEM extractor output
    static readonly (string Answer, string Label)[] Cases =
    [
        ("Yes, there is a dog.", "yes"),           // official: words Yes/there/is/a/dog → yes → TP; extract: "yes" ✓
        ("No.", "no"),                             // "No" → no → TN; "no" ✓
        ("There is no cat in the image.", "yes"),  // word "no" → no → FN; extract: "is " → "no cat in the image" → "the " → "image" ✗
        ("I think so", "no"),                      // no negation word → yes → FP; "i think so" ✗
        ("Not really.", "no"),                     // "Not" (capital) is not in the list → yes → FP; "not really" ✗
        ("yes", "yes"),                            // TP; ✓
        ("It is not there", "no"),                 // "not" → no → TN; extract "not there" ✗
        ("Yes. No.", "yes"),                       // first sentence "Yes" → yes → TP; "yes" ✓
    ];

    static IReadOnlyList<PopeQuestion> Questions() =>
        Cases.Select((c, i) => new PopeQuestion(i, $"img{i}.jpg", "Is there a dog in the image?", c.Label)).ToArray();

    [Fact]
    public void OfficialMetricsOnAHandConfusionMatrix()
    {
        var m = Pope.Score(Questions(), Cases.Select(c => c.Answer).ToArray());
        // TP = 3 (1, 6, 8), FP = 2 (4, 5), TN = 2 (2, 7), FN = 1 (3)
        Assert.Equal((3, 2, 2, 1), (m.TruePositives, m.FalsePositives, m.TrueNegatives, m.FalseNegatives));
        Assert.Equal(5.0 / 8, m.Accuracy, 12);   // (3 + 2) / 8
        Assert.Equal(3.0 / 5, m.Precision, 12);  // 3 / (3 + 2)
        Assert.Equal(3.0 / 4, m.Recall, 12);     // 3 / (3 + 1)
        Assert.Equal(2.0 / 3, m.F1, 12);         // 2 · 0.6 · 0.75 / 1.35 = 0.9 / 1.35
        Assert.Equal(5.0 / 8, m.YesRatio, 12);   // (TP + FP) / 8
    }

    [Fact]
    public void DeemAccuracyUsesTheExtractorAndExactMatch()
    {
        // matches: cases 1, 2, 6, 8 → 4 / 8
        Assert.Equal(50.0, Pope.DeemAccuracyPercent(Questions(), Cases.Select(c => c.Answer).ToArray()), 12);
        Assert.Equal("Is there a dog in the image? Please anwser yes or no", Pope.Prompt(Questions()[0]));
    }

    [Fact]
    public void NoYesPredictionsGiveZeroPrecisionInsteadOfADivisionByZero()
    {
        var m = Pope.Metrics([false, false], [true, false]);
        Assert.Equal((0.0, 0.0, 0.0, 0.5, 0.0), (m.Precision, m.Recall, m.F1, m.Accuracy, m.YesRatio));
    }

    static readonly PopeImageObjects[] Images =
    [
        new("img1.jpg", ["dog", "person", "frisbee"]),
        new("img2.jpg", ["person", "car", "bus"]),
        new("img3.jpg", ["person", "dog", "car"]),
        new("img4.jpg", ["cat", "sofa", "tv"]),
        new("img5.jpg", ["person", "car", "traffic light"]),
        new("small.jpg", ["apple", "orange"]),
    ];

    static string[] Negatives(IReadOnlyList<PopeQuestion> qs, string image) =>
        qs.Where(q => q.Image == image && q.Label == "no").Select(q => Obj(q.Text)).ToArray();

    static string Obj(string text) => text.Replace("Is there an ", "").Replace("Is there a ", "").Replace(" in the image?", "");

    [Fact]
    public void PopularAsksTheMostFrequentAbsentCategories()
    {
        // frequency: person 4, car 3, dog 2, then 1 each in first-seen order:
        // frisbee, bus, cat, sofa, tv, traffic light, apple, orange
        var qs = PopeBuilder.Build(Images, PopeStrategy.Popular);
        Assert.Equal(["car", "bus", "cat"], Negatives(qs, "img1.jpg"));  // person/dog/frisbee present
        Assert.Equal(["dog", "frisbee", "cat"], Negatives(qs, "img2.jpg"));
        Assert.Equal(["person", "car", "dog"], Negatives(qs, "img4.jpg"));
    }

    [Fact]
    public void AdversarialAsksCategoriesThatCoOccurWithEachPositive()
    {
        var qs = PopeBuilder.Build(Images, PopeStrategy.Adversarial, seed: 7);
        // img2 = person, car, bus.
        // person co-occurs with car 3, dog 2, frisbee 1, bus 1, traffic light 1 → car present → dog.
        // car co-occurs with person 3, bus 1, dog 1, traffic light 1 → person/bus present, dog asked → traffic light.
        // bus co-occurs only with person and car (present) → random absent, unasked category.
        string[] neg = Negatives(qs, "img2.jpg");
        Assert.Equal("dog", neg[0]);
        Assert.Equal("traffic light", neg[1]);
        Assert.Contains(neg[2], new[] { "frisbee", "cat", "sofa", "tv", "apple", "orange" });
        // differs from popular, whose second negative for img2 is "frisbee"
        Assert.NotEqual(Negatives(PopeBuilder.Build(Images, PopeStrategy.Popular), "img2.jpg"), neg);
    }

    [Fact]
    public void RandomNegativesAreAbsentDistinctAndDeterministic()
    {
        var a = PopeBuilder.Build(Images, PopeStrategy.Random, seed: 11);
        var b = PopeBuilder.Build(Images, PopeStrategy.Random, seed: 11);
        Assert.Equal(a, b);
        foreach (var im in Images.Where(i => i.Objects.Count >= 3))
        {
            string[] neg = Negatives(a, im.Image);
            Assert.Equal(3, neg.Length);
            Assert.Equal(3, neg.Distinct().Count());
            Assert.All(neg, n => Assert.DoesNotContain(n, im.Objects));
        }
        // other seeds give other draws
        var draws = Enumerable.Range(0, 6).Select(s => string.Join("|", PopeBuilder.Build(Images, PopeStrategy.Random, seed: (ulong)s).Select(q => q.Text)));
        Assert.True(draws.Distinct().Count() > 1);
    }

    [Fact]
    public void FilesAreBalancedAndSmallImagesFollowTheOption()
    {
        foreach (var strategy in new[] { PopeStrategy.Random, PopeStrategy.Popular, PopeStrategy.Adversarial })
        {
            var qs = PopeBuilder.Build(Images, strategy, seed: 3);
            Assert.Equal(qs.Count(q => q.Label == "yes"), qs.Count(q => q.Label == "no"));
            Assert.Equal(5 * 6, qs.Count);                       // small.jpg (2 objects) is skipped
            Assert.Equal(Enumerable.Range(0, 30).Select(i => (long)i), qs.Select(q => q.QuestionId));
        }
        var all = PopeBuilder.Build(Images, PopeStrategy.Popular, skipSmallImages: false);
        var small = all.Where(q => q.Image == "small.jpg").ToArray();
        Assert.Equal(["Is there an apple in the image?", "Is there an orange in the image?"], small.Take(2).Select(q => q.Text));
        Assert.Equal(["yes", "yes", "no", "no"], small.Select(q => q.Label));
        Assert.Equal("Is there a dog in the image?", PopeBuilder.Question(PopeBuilder.DefaultTemplate, "dog"));
    }

    [Fact]
    public void WrittenFilesLoadBack()
    {
        var qs = PopeBuilder.Build(Images, PopeStrategy.Popular);
        string path = Path.Combine(_dir, Pope.FileName("popular"));
        PopeBuilder.Write(path, qs);
        Assert.Equal(qs, Pope.Load(path));

        string ann = Path.Combine(_dir, "ann.jsonl");
        File.WriteAllText(ann, "{\"image\": \"a.jpg\", \"objects\": [\"person\", \"baseball bat\"]}\n");
        var loaded = PopeBuilder.LoadAnnotations(ann);
        Assert.Equal("a.jpg", loaded[0].Image);
        Assert.Equal(["person", "baseball bat"], loaded[0].Objects);

        File.WriteAllText(path, "{\"question_id\": 1, \"image\": \"x.jpg\", \"text\": \"t\", \"label\": \"maybe\"}\n");
        Assert.Throws<DeemFormatException>(() => Pope.Load(path));
    }
}
