using Deem.Benchmarks;
using Deem.World.Benchmarks;
using Deem.World;

namespace Deem.Tests.World.Benchmarks;

public class WorldMmvpTests
{
    static readonly WorldMmvpOptions Small = new() { Seed = 5, Pairs = 10, ImageSize = 32 };

    [Fact]
    public void SameSeedWritesIdenticalFilesOtherSeedDiffers()
    {
        using var a = new Scratch();
        using var b = new Scratch();
        using var c = new Scratch();
        WorldMmvp.Make(a.Path, Small);
        WorldMmvp.Make(b.Path, Small);
        WorldMmvp.Make(c.Path, Small with { Seed = 6 });
        var ha = Scratch.Hashes(a.Path);
        Assert.Equal(ha, Scratch.Hashes(b.Path));
        Assert.Equal(2 * Small.Pairs + 2, ha.Count); // images + Questions.csv + pairs.jsonl
        Assert.NotEqual(ha["Questions.csv"], Scratch.Hashes(c.Path)["Questions.csv"]);
    }

    [Fact]
    public void WrittenInTheRealLayout()
    {
        using var d = new Scratch();
        var pairs = WorldMmvp.Make(d.Path, Small);
        var qs = Mmvp.Load(d.Path);
        Assert.Equal(Enumerable.Range(1, 20), qs.Select(q => q.Index));
        Assert.StartsWith("Index,Question,Options,Correct Answer\n", File.ReadAllText(d["Questions.csv"]));
        foreach (var q in qs)
        {
            Assert.True(File.Exists(d[Path.Combine("MMVP Images", $"{q.Index}.jpg")]));
            Assert.Equal(2, q.Options.Count);
            Assert.Equal(['a', 'b'], q.Options.Select(o => o.Letter));
            var p = pairs[(q.Index - 1) / 2];
            Assert.Equal(p.Question, q.Question);
            Assert.Equal(q.Index % 2 == 1 ? p.CorrectFirst : p.CorrectSecond, q.Correct);
            Assert.Equal(q.Index % 2 == 1 ? p.AnswerFirst : p.AnswerSecond, q.Options.Single(o => o.Letter == q.Correct).Text);
        }
        // the two questions of a pair: same question and options, different right answers
        for (int i = 0; i < qs.Count; i += 2)
        {
            Assert.Equal((qs[i].Question, qs[i].OptionsText), (qs[i + 1].Question, qs[i + 1].OptionsText));
            Assert.NotEqual(qs[i].Correct, qs[i + 1].Correct);
        }
        Assert.Equal(10, File.ReadAllLines(d["pairs.jsonl"]).Length);
    }

    [Fact]
    public void DefaultIs150PairsBalancedOverTheFiveAttributes()
    {
        var pairs = WorldMmvp.Sample(new WorldMmvpOptions());
        Assert.Equal(150, pairs.Count);
        foreach (var g in pairs.GroupBy(p => p.Attribute)) Assert.Equal(30, g.Count());
        Assert.Equal(5, pairs.Select(p => p.Attribute).Distinct().Count());
        // option order is randomised: "(a)" is right for the first image in some pairs, not in all
        Assert.InRange(pairs.Count(p => p.CorrectFirst == 'a'), 40, 110);
        foreach (var p in pairs) CheckOneAttribute(p);
    }

    /// <summary>The two scenes differ in exactly the named attribute, and the scene-read answers differ.</summary>
    static void CheckOneAttribute(WorldMmvpPair p)
    {
        var (a, b) = (p.First, p.Second);
        Assert.Equal((a.Background, a.Style, a.Clutter, a.Occluder, a.DetailSeed), (b.Background, b.Style, b.Clutter, b.Occluder, b.DetailSeed));
        Assert.NotEqual(a.ContentKey, b.ContentKey);
        foreach (var s in new[] { a, b }) Assert.Equal(s.Objects.Count, s.Objects.Select(o => o.Cell).Distinct().Count()); // one object per cell
        if (p.Attribute == MmvpAttribute.Count)
        {
            var (small, large) = a.Objects.Count < b.Objects.Count ? (a, b) : (b, a);
            Assert.NotEqual(small.Objects.Count, large.Objects.Count);
            Assert.All(small.Objects, o => Assert.Contains(o, large.Objects));           // nothing changed, only added
            var extra = large.Objects.Except(small.Objects).ToList();
            var group = small.Objects.Where(o => o.Shape == extra[0].Shape).ToList();
            Assert.NotEmpty(group);
            Assert.All(extra, e => Assert.Equal(group[0] with { Cell = e.Cell }, e)); // copies of the counted object
            Assert.All(group, g => Assert.Equal(group[0] with { Cell = g.Cell }, g));   // the counted group is one kind of object
        }
        else
        {
            Assert.Equal(a.Objects.Count, b.Objects.Count);
            var diff = Enumerable.Range(0, a.Objects.Count).Where(i => a.Objects[i] != b.Objects[i]).ToList();
            Assert.Single(diff);
            WorldObject x = a.Objects[diff[0]], y = b.Objects[diff[0]];
            // setting the one field makes them equal; that field differs
            switch (p.Attribute)
            {
                case MmvpAttribute.Orientation:
                    Assert.NotEqual(x.Orientation, y.Orientation); Assert.Equal(y, x with { Orientation = y.Orientation });
                    Assert.True(WorldVocabulary.IsAsymmetric(x.Shape));
                    break;
                case MmvpAttribute.Colour:
                    Assert.NotEqual(x.Colour, y.Colour); Assert.Equal(y, x with { Colour = y.Colour });
                    break;
                case MmvpAttribute.Position:
                    Assert.NotEqual(x.Cell, y.Cell); Assert.Equal(y, x with { Cell = y.Cell });
                    break;
                case MmvpAttribute.Structure:
                    Assert.Equal(y.Shape, WorldMmvp.Twin(x.Shape)); Assert.Equal(y, x with { Shape = y.Shape });
                    break;
            }
        }
        string ta = SceneOracle.MmvpTruth(a, p.Question), tb = SceneOracle.MmvpTruth(b, p.Question);
        Assert.Equal((p.AnswerFirst, p.AnswerSecond), (ta, tb));
        Assert.NotEqual(ta, tb);
        Assert.Equal($"(a) {(p.CorrectFirst == 'a' ? ta : tb)} (b) {(p.CorrectFirst == 'a' ? tb : ta)}", p.Options);
    }

    [Fact]
    public void SceneOracleGetsEveryPairABlindModelNone()
    {
        using var d = new Scratch();
        using var o = new Scratch();
        var pairs = WorldMmvp.Make(d.Path, Small);
        var oracle = MmvpRunner.Run(new SceneOracle(mmvp: pairs), d.Path, o["oracle"]);
        Assert.Equal((100.0, 100.0, 10, 20), (oracle.Scores.PairAccuracy, oracle.Scores.QuestionAccuracy, oracle.Scores.Pairs, oracle.Scores.Questions));
        // an answer that does not depend on the image is right on exactly one question of each pair
        var blind = MmvpRunner.Run(new AlwaysFirstOption(), d.Path, o["blind"]);
        Assert.Equal((0.0, 50.0), (blind.Scores.PairAccuracy, blind.Scores.QuestionAccuracy));
        // each run's pair accuracy carries Wilson's 95 % interval over its pairs: 0 of 10 → [0, 27.75]
        var ci = ScoresFile.Read(Path.Combine(o["blind"], MmvpRunner.ScoresFileName))["pair_accuracy_ci95"]!.AsArray().Select(x => Math.Round((double)x!, 2));
        Assert.Equal([0.0, 27.75], ci);
    }

    [Fact]
    public void ExcludedScenesAreRedrawn()
    {
        var first = WorldMmvp.Sample(Small);
        var exclude = new HashSet<string>(StringComparer.Ordinal) { first[0].First.ContentKey, first[3].Second.ContentKey };
        var again = WorldMmvp.Sample(Small, exclude);
        Assert.DoesNotContain(again, p => exclude.Contains(p.First.ContentKey) || exclude.Contains(p.Second.ContentKey));
        // other pairs keep their own streams
        Assert.Equal((first[1].First.ContentKey, first[1].Second.ContentKey, first[1].Options), (again[1].First.ContentKey, again[1].Second.ContentKey, again[1].Options));
    }
}
