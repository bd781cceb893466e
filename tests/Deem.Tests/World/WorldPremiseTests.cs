using Deem.Tests.Data;
using Deem.Benchmarks;
using Deem.World.Benchmarks;
using Deem.Data.Formats;
using Deem.World;

namespace Deem.Tests.World;

/// <summary>What lets trained models answer yes/no on the world, and the paper's premise built into it.</summary>
public class WorldPremiseTests
{
    static readonly WorldOptions Small = new()
    {
        Seed = 3,
        Counts = new WorldCounts { Mmc4Docs = 4, CaptionPairs = 200, VqaImages = 120, RegionImages = 4, TestImagesPerSplit = 13 },
        TestImagesInDistribution = 26,
    };

    /// <summary>Enough instruction images for the yes/no statistics.</summary>
    static readonly WorldOptions Sft = Small with { Counts = Small.Counts with { VqaImages = 400 }, YesNo = YesNoMix.First };

    [Theory]
    [InlineData(YesNoMix.Pairs)]
    [InlineData(YesNoMix.First)]
    public void SftYesNoQuestionsAreBalancedAndTrue(YesNoMix mix)
    {
        var plan = WorldPlan.Build(Sft with { YesNo = mix });
        var items = plan.Vqa.SelectMany(p => p.Questions.Select(q => (p.Scene, q))).ToList();
        foreach (var kind in new[] { VqaKind.ExistsObject, VqaKind.MainObject })
        {
            var ofKind = items.Where(x => x.q.Kind == kind).ToList();
            Assert.True(ofKind.Count >= 100, $"{kind}: only {ofKind.Count} questions");
            int yes = ofKind.Count(x => x.q.Answer == "yes");
            if (mix == YesNoMix.Pairs) Assert.Equal(ofKind.Count - yes, yes);               // balanced by construction
            else Assert.InRange(yes / (double)ofKind.Count, 0.4, 0.6);                       // balanced in expectation
        }
        // Every image has POPE-style questions about distinct shapes: a present/absent pair, or two (one when the
        // scene cannot give a second "yes") with answers of their own.
        Assert.All(plan.Vqa, p =>
        {
            var pope = p.Questions.Where(q => q.Kind == VqaKind.ExistsObject).ToList();
            if (mix == YesNoMix.Pairs) Assert.Equal(["yes", "no"], pope.Select(q => q.Answer).Order().Reverse());
            else Assert.InRange(pope.Count, 1, 2);
            Assert.Equal(pope.Count, pope.Select(q => q.Question).Distinct().Count());
        });
        foreach (var (scene, q) in items.Where(x => x.q.Kind == VqaKind.ExistsObject))
        {
            Assert.EndsWith(" in the image? Please anwser yes or no", q.Question);
            string shape = q.Question[..q.Question.IndexOf(" in the image?", StringComparison.Ordinal)].Split(' ')[^1];
            bool present = scene.Objects.Any(o => WorldVocabulary.Name(o.Shape) == shape);
            Assert.Equal(present ? "yes" : "no", q.Answer);
        }
        // Word for word what the benchmarks ask: POPE's template with the category names of the world's
        // instances, RobustVQA's question with its class names ("l_shape", not "l-shape").
        var pope = WorldVocabulary.Shapes.Select(s => Pope.Prompt(new PopeQuestion(0, "", PopeBuilder.Question(PopeBuilder.DefaultTemplate,
            WorldPope.Category(s).Name), "yes"))).ToHashSet();
        var robust = WorldVocabulary.Shapes.Select(s => RobustVqa.Question(WorldVocabulary.ClassName(s))).ToHashSet();
        Assert.All(items.Where(x => x.q.Kind == VqaKind.ExistsObject), x => Assert.Contains(x.q.Question, pope));
        Assert.All(items.Where(x => x.q.Kind == VqaKind.MainObject), x => Assert.Contains(x.q.Question, robust));
        Assert.Contains(items, x => x.q.Question.Contains("l_shape") || x.q.Question.Contains("t_shape"));
        // The same wording is "yes" on some images and "no" on others: no answer can come from the text alone.
        var byText = items.Where(x => x.q.Kind == VqaKind.ExistsObject).GroupBy(x => x.q.Question).Where(g => g.Count() >= 4).ToList();
        Assert.NotEmpty(byText);
        Assert.All(byText, g => Assert.Equal(2, g.Select(x => x.q.Answer).Distinct().Count()));
    }

    [Fact]
    public void NoYesNoAnswerFollowsFromAnEarlierTurn()
    {
        var plan = WorldPlan.Build(Sft);
        // The benchmark-style yes/no questions open every conversation: no open question before them names a present shape.
        Assert.All(plan.Vqa, p =>
        {
            var kinds = p.Questions.Select(q => q.Kind is VqaKind.ExistsObject or VqaKind.MainObject).ToList();
            Assert.Equal(kinds.OrderByDescending(k => k), kinds);
        });
        // Each answer is its own coin: two POPE questions of one image agree about as often as they differ
        // (with one "yes" and one "no" per image the second answer followed from the first, never agreeing).
        var pairs = plan.Vqa.Select(p => p.Questions.Where(q => q.Kind == VqaKind.ExistsObject).Select(q => q.Answer).ToList())
            .Where(a => a.Count == 2).ToList();
        Assert.True(pairs.Count >= 200, $"only {pairs.Count} images with two POPE-style questions");
        Assert.InRange(pairs.Count(a => a[0] == a[1]) / (double)pairs.Count, 0.35, 0.65);
        Assert.Contains(pairs, a => a[0] == "yes" && a[1] == "yes");
        Assert.Contains(pairs, a => a[0] == "no" && a[1] == "no");
    }

    [Fact]
    public void TheMixedMixAsksOnlyTheSampledQuestions()
    {
        var plan = WorldPlan.Build(Small with { YesNo = YesNoMix.Mixed });
        Assert.All(plan.Vqa, p => Assert.Equal(Small.QuestionsPerImage, p.Questions.Count));
    }

    [Fact]
    public void PopeBenchmarkIsBalancedPerStrategy()
    {
        var options = new WorldPopeOptions { Images = 30, Seed = 1 };
        var scenes = WorldPope.SampleScenes(options);
        var images = scenes.Select((s, i) => new PopeImageObjects(WorldPope.ImageName(i),
            s.Objects.Select(o => WorldVocabulary.Name(o.Shape)).Distinct().ToArray())).ToList();
        var stats = WorldPope.Statistics(images, WorldVocabulary.Shapes.Select(WorldVocabulary.Name));
        foreach (var strategy in Enum.GetValues<PopeStrategy>())
        {
            var qs = WorldPope.BuildQuestions(images, strategy, stats, options.SamplesPerImage);
            Assert.Equal(2 * 3 * 30, qs.Count);
            Assert.Equal(qs.Count / 2, qs.Count(q => q.Label == "yes"));
        }
    }

    [Fact]
    public void ClipCaptionsNeverNameTheOmittedFamilies()
    {
        var plan = WorldPlan.Build(Small);
        var omits = Small.OmittedFamilies();
        Assert.Equal([AttributeFamily.Orientation, AttributeFamily.Count], omits);
        var full = plan.Captions.Select(p => SceneText.ShortCaption(p.Scene)).ToList();
        var cut = plan.Captions.Select(p => CaptionFamilies.ShortCaption(p.Scene, omits)).ToList();
        // The full captions do say them (so this test can fail) ...
        Assert.Contains(full, c => CaptionFamilies.Mentions(c, AttributeFamily.Orientation));
        Assert.Contains(full, c => CaptionFamilies.Mentions(c, AttributeFamily.Count));
        // ... the CLIP's captions never, and still name every shape and colour of the scene.
        Assert.All(cut, c => Assert.False(CaptionFamilies.Mentions(c, AttributeFamily.Orientation), c));
        Assert.All(cut, c => Assert.False(CaptionFamilies.Mentions(c, AttributeFamily.Count), c));
        for (int i = 0; i < plan.Captions.Count; i++)
            foreach (var o in plan.Captions[i].Scene.Objects)
                Assert.Contains($"{o.Colour} {WorldVocabulary.Name(o.Shape)}", cut[i]);
        Assert.Equal(full, plan.Captions.Select(p => CaptionFamilies.ShortCaption(p.Scene, [])).ToList());
    }

    [Fact]
    public void WrittenCaptionPairsHonourCaptionOmits()
    {
        using var d = new TempDir();
        WorldWriter.Make(d.Path, WorldOptions.Tiny);
        var captions = Directory.GetFiles(d["laion"], "*.tar").Order(StringComparer.Ordinal)
            .SelectMany(f => WebDataset.ReadShard(f, new SkipCounter(strict: true))).Select(s => s.Caption).ToList();
        Assert.Equal(WorldOptions.Tiny.Counts.CaptionPairs, captions.Count);
        Assert.All(captions, c => Assert.False(CaptionFamilies.Mentions(c, AttributeFamily.Orientation) || CaptionFamilies.Mentions(c, AttributeFamily.Count), c));
        Assert.Throws<DeemConfigException>(() => (WorldOptions.Tiny with { CaptionOmits = ["texture"] }).Validate("test"));
    }

    [Fact]
    public void InDistributionSplitIsHeldOutAndDrawnLikeTraining()
    {
        var plan = WorldPlan.Build(Small);
        var id = plan.Tests.Where(t => t.Split == WorldSplit.InDistribution).ToList();
        Assert.Equal(26, id.Count);
        var train = plan.TrainKeys.ToHashSet(StringComparer.Ordinal);
        Assert.All(id, t => Assert.DoesNotContain(t.Scene.ContentKey, train));
        Assert.All(id, t =>
        {
            Assert.Equal(RenderStyle.Flat, t.Scene.Style);
            Assert.Equal(0, t.Scene.Clutter);
            Assert.Null(t.Scene.Occluder);
            Assert.All(t.Scene.Objects, o => Assert.True(o.Scale == 1f && o.HueShift == 0f && o.OffsetX == 0f && o.OffsetY == 0f));
            Assert.Equal(t.Class, t.Scene.Objects[0].Shape);
            Assert.Single(t.Scene.Objects, o => o.Size == SizeClass.Large);
        });
        // The training backgrounds only (A's unusual ones never).
        var trainBackgrounds = WorldVocabulary.Backgrounds.Select(b => b.Name).ToHashSet();
        Assert.All(id, t => Assert.Contains(t.Scene.Background.From.Name, trainBackgrounds));
        // The shifted splits are unchanged by adding it.
        var before = WorldPlan.Build(Small with { TestImagesInDistribution = 0 });
        Assert.Equal(before.Tests.Select(t => t.Id), plan.Tests.Where(t => t.Split != WorldSplit.InDistribution).Select(t => t.Id));
    }
}
