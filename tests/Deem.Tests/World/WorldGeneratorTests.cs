using Deem.Tests.Data;
using System.Security.Cryptography;
using Deem.Data.Formats;
using Deem.World;
using SkiaSharp;

namespace Deem.Tests.World;

public class WorldGeneratorTests
{
    static Dictionary<string, string> HashTree(string root) =>
        Directory.GetFiles(root, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(root, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    [Fact]
    public void SameSeedWritesIdenticalBytesDifferentSeedDiffers()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        using var c = new TempDir();
        var opts = WorldOptions.Tiny with { Seed = 7 };
        WorldWriter.Make(a.Path, opts);
        WorldWriter.Make(b.Path, opts);
        WorldWriter.Make(c.Path, opts with { Seed = 8 });
        var ha = HashTree(a.Path);
        var hb = HashTree(b.Path);
        Assert.True(ha.Count > 50, $"only {ha.Count} files written");
        Assert.Equal(ha.OrderBy(kv => kv.Key, StringComparer.Ordinal), hb.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.DoesNotContain(ha.Keys, k => k.Contains(".tmp-"));
        var hc = HashTree(c.Path);
        Assert.NotEqual(ha["manifest.json"], hc["manifest.json"]);
        Assert.NotEqual(ha[Path.Combine("mmc4", "docs_no_face_shard_0_v3.jsonl")], hc[Path.Combine("mmc4", "docs_no_face_shard_0_v3.jsonl")]);
        Assert.NotEqual(ha[Path.Combine("laion", "00000.tar")], hc[Path.Combine("laion", "00000.tar")]);
    }

    [Fact]
    public void ManifestListsEveryFileWithItsSize()
    {
        using var d = new TempDir();
        var m = WorldWriter.Make(d.Path, WorldOptions.Tiny);
        var onDisk = Directory.GetFiles(d.Path, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(d.Path, f).Replace('\\', '/')).Where(f => f != "manifest.json").OrderBy(f => f, StringComparer.Ordinal);
        Assert.Equal(onDisk, m.Files.Select(f => f.Path));
        foreach (var f in m.Files) Assert.Equal(new FileInfo(d[f.Path]).Length, f.Bytes);
        Assert.Equal(WorldOptions.Tiny.Counts.TestImagesPerSplit, m.Counts["test_a"]);
        Assert.Contains("\"generator\": \"deem-world\"", File.ReadAllText(d["manifest.json"]));
    }

    [Fact]
    public void PngAndJpegEncodingIsDeterministic()
    {
        var scene = SceneSampler.Train(new WorldRng(3));
        using var r1 = SceneRenderer.Render(scene, 64);
        using var r2 = SceneRenderer.Render(scene, 64);
        var png1 = ImageFiles.Encode(r1.Image, ".png");
        Assert.Equal(png1, ImageFiles.Encode(r1.Image, ".png"));
        Assert.Equal(png1, ImageFiles.Encode(r2.Image, ".png"));
        Assert.Equal(ImageFiles.Encode(r1.Image, ".jpg"), ImageFiles.Encode(r2.Image, ".jpg"));
        // The PNG is lossless: decoding gives the rendered pixels back.
        using var back = ImageFiles.Decode(png1, "mem");
        Assert.Equal(ImageFiles.Rgb(r1.Image), ImageFiles.Rgb(back));
    }

    [Fact]
    public void TrainAndTestSplitsShareNoSceneDescription()
    {
        var plan = WorldPlan.Build(new WorldOptions { Seed = 11 });
        var train = plan.TrainKeys.ToHashSet(StringComparer.Ordinal);
        Assert.True(train.Count > 500);
        Assert.Equal(3 * 52 + 52, plan.Tests.Count); // A, R, V and the in-distribution split
        foreach (var t in plan.Tests) Assert.DoesNotContain(t.Scene.ContentKey, train);
        // Detailed captions (the text a model sees) are disjoint too.
        var trainCaptions = plan.Captions.Concat(plan.Vqa).Concat(plan.Regions).Select(p => SceneText.DetailedCaption(p.Scene)).ToHashSet();
        Assert.DoesNotContain(plan.Tests, t => trainCaptions.Contains(SceneText.DetailedCaption(t.Scene)));
    }

    [Fact]
    public void SplitsHaveTheirDefiningProperties()
    {
        var plan = WorldPlan.Build(new WorldOptions { Seed = 5 });
        var trainObjects = plan.Captions.Concat(plan.Vqa).SelectMany(p => p.Scene.Objects).ToList();
        double typical = trainObjects.Count(o => o.Colour == WorldVocabulary.TypicalColour(o.Shape)) / (double)trainObjects.Count;
        Assert.InRange(typical, 0.7, 0.95); // the correlation A contradicts
        Assert.All(plan.Captions, p => Assert.Equal(RenderStyle.Flat, p.Scene.Style));
        var a = plan.Tests.Where(t => t.Split == WorldSplit.A).ToList();
        Assert.All(a, t => Assert.NotEqual(WorldVocabulary.TypicalColour(t.Class), t.Scene.Objects[0].Colour));
        Assert.All(a, t => Assert.True(t.Scene.Clutter > 0));
        Assert.Contains(a, t => t.Scene.Occluder is not null);
        Assert.All(plan.Tests.Where(t => t.Split == WorldSplit.R), t => Assert.NotEqual(RenderStyle.Flat, t.Scene.Style));
        Assert.Equal(4, plan.Tests.Where(t => t.Split == WorldSplit.R).Select(t => t.Scene.Style).Distinct().Count());
        var v = plan.Tests.Where(t => t.Split == WorldSplit.V).ToList();
        Assert.All(v, t => Assert.Equal(RenderStyle.Flat, t.Scene.Style));
        Assert.Contains(v, t => t.Scene.Objects[0].HueShift != 0f && t.Scene.Objects[0].Scale != 1f);
        Assert.All(plan.Tests, t => Assert.Equal(t.Class, t.Scene.Objects[0].Shape));
        Assert.All(plan.Tests, t => Assert.NotEqual(t.Class, t.Negative));
    }

    [Fact]
    public void EveryAsymmetricShapeRendersFourDifferentOrientations()
    {
        var bg = new Background(WorldVocabulary.Backgrounds[0]);
        foreach (var shape in WorldVocabulary.Shapes.Where(WorldVocabulary.IsAsymmetric))
        {
            var imgs = WorldVocabulary.Directions.Select(d =>
            {
                using var r = SceneRenderer.Render(new Scene(bg, [new WorldObject(shape, "red", SizeClass.Large, 4, d)]), 64);
                return r.Masks[0];
            }).ToList();
            for (int i = 0; i < 4; i++)
                for (int j = i + 1; j < 4; j++)
                {
                    int diff = imgs[i].Zip(imgs[j]).Count(p => p.First != p.Second);
                    Assert.True(diff >= 15, $"{shape}: {WorldVocabulary.Directions[i]} vs {WorldVocabulary.Directions[j]} differ in only {diff} pixels");
                }
        }
        Assert.Equal(8, WorldVocabulary.Shapes.Count(WorldVocabulary.IsAsymmetric));
        Assert.True(WorldVocabulary.Shapes.Length >= 10 && WorldVocabulary.Colours.Length >= 8);
    }

    [Fact]
    public void RegionMasksCoverExactlyTheirObjectsPixels()
    {
        const int S = 96;
        var bgc = WorldVocabulary.Backgrounds[0];
        var objs = new List<WorldObject>
        {
            new(ShapeKind.Square, "blue", SizeClass.Large, 4, Orientation.None),
            new(ShapeKind.Heart, "red", SizeClass.Large, 4, Orientation.Down, OffsetX: 0.35f, OffsetY: 0.2f), // overlaps the square
            new(ShapeKind.Key, "green", SizeClass.Small, 0, Orientation.Left),
            new(ShapeKind.Ring, "black", SizeClass.Large, 8, Orientation.None),
        };
        using var r = SceneRenderer.Render(new Scene(new Background(bgc), objs), S);
        var px = r.Image.Pixels;
        var any = new bool[S * S];
        for (int k = 0; k < objs.Count; k++)
        {
            var m = r.Masks[k];
            int count = m.Count(b => b == 1);
            Assert.True(count > 10, $"object {k} mask has {count} pixels");
            Assert.Equal(S * S, m.Length);
            var want = SceneRenderer.PaintColour(objs[k]);
            for (int y = 1; y < S - 1; y++)
                for (int x = 1; x < S - 1; x++)
                {
                    int p = y * S + x;
                    if (m[p] == 1) any[p] = true;
                    bool interior = m[p] == 1 && m[p - 1] == 1 && m[p + 1] == 1 && m[p - S] == 1 && m[p + S] == 1;
                    if (interior) Assert.True(px[p] == want, $"object {k} pixel ({x},{y}) is {px[p]}, expected {want}");
                }
            for (int j = k + 1; j < objs.Count; j++) Assert.DoesNotContain(Enumerable.Range(0, S * S), p => m[p] == 1 && r.Masks[j][p] == 1);
        }
        // The square is partly hidden by the heart drawn after it.
        using var alone = SceneRenderer.Render(new Scene(new Background(bgc), [objs[0]]), S);
        Assert.True(alone.Masks[0].Count(b => b == 1) > r.Masks[0].Count(b => b == 1) + 20);
        // Pixels away from every mask are background.
        for (int y = 1; y < S - 1; y++)
            for (int x = 1; x < S - 1; x++)
            {
                int p = y * S + x;
                bool near = false;
                for (int dy = -1; dy <= 1; dy++) for (int dx = -1; dx <= 1; dx++) near |= any[p + dy * S + dx];
                if (!near) Assert.True(px[p] == bgc.ToSk(), $"pixel ({x},{y}) outside all masks is {px[p]}");
            }
        // The ring's hole is not in its mask.
        Assert.Equal(0, r.Masks[3][(int)(2.5 * S / 3) * S + (int)(2.5 * S / 3)]);
    }

    [Fact]
    public void OccluderIsCutOutOfTheMasks()
    {
        var scene = new Scene(new Background(WorldVocabulary.Backgrounds[1]),
            [new WorldObject(ShapeKind.Circle, "pink", SizeClass.Large, 4, Orientation.None)],
            Occluder: new Occluder(0.3f, 0.45f, 0.4f, 0.1f, WorldVocabulary.Colours[8]));
        using var withOcc = SceneRenderer.Render(scene, 64);
        using var without = SceneRenderer.Render(scene with { Occluder = null }, 64);
        int a = withOcc.Masks[0].Count(b => b == 1), b = without.Masks[0].Count(b => b == 1);
        Assert.InRange(b - a, 60, 400);
        Assert.Equal(0, withOcc.Masks[0][32 * 64 + 32]);
    }

    [Fact]
    public void TextDescribesTheScene()
    {
        var scene = new Scene(new Background(WorldVocabulary.Backgrounds[0]),
        [
            new WorldObject(ShapeKind.Arrow, "red", SizeClass.Large, 0, Orientation.Left),
            new WorldObject(ShapeKind.Arrow, "red", SizeClass.Large, 2, Orientation.Left),
            new WorldObject(ShapeKind.Ring, "blue", SizeClass.Small, 4, Orientation.None),
            new WorldObject(ShapeKind.Key, "orange", SizeClass.Small, 8, Orientation.Up),
        ]);
        Assert.Equal("two red arrows pointing left, a small blue ring and a small orange key pointing up", SceneText.ShortCaption(scene));
        Assert.Equal("a small orange key pointing up", SceneText.Region(scene.Objects[3]));
        Assert.StartsWith("a large red arrow pointing left in the top left, a large red arrow pointing left in the top right,", SceneText.DetailedCaption(scene));
        var rng = new WorldRng(1);
        for (int i = 0; i < 50; i++)
        {
            var q = VqaGenerator.Make(rng, scene, VqaKind.Count)!;
            Assert.Equal(q.Question.Contains("arrows") ? "two" : "one", q.Answer);
            var o = VqaGenerator.Make(rng, scene, VqaKind.Orientation)!;
            Assert.Equal(o.Question.Contains("arrow") ? "left" : "up", o.Answer);
            var c = VqaGenerator.Make(rng, scene, VqaKind.Colour)!;
            Assert.DoesNotContain(c.Answer, c.Question);
            var e = VqaGenerator.Make(rng, scene, VqaKind.Exists)!;
            bool present = scene.Objects.Any(x => e.Question.Contains($" {x.Colour} {WorldVocabulary.Name(x.Shape)}?"));
            Assert.Equal(present ? "yes" : "no", e.Answer);
        }
    }

    [Fact]
    public void TwoOptionQuestionsHoldTheAnswerAndParseToItsLetter()
    {
        int twoOption = 0, oneWord = 0, total = 0;
        for (int i = 0; i < 200; i++)
        {
            var rng = WorldRng.For(0, "vqa-format-test", i);
            foreach (var q in VqaGenerator.Sample(rng, SceneSampler.Train(rng), 6))
            {
                total++;
                if (q.Question.EndsWith(Deem.Text.PromptTemplates.OneWordInstruction, StringComparison.Ordinal)) oneWord++;
                var options = Deem.Benchmarks.Mmvp.ParseOptions(q.Question);
                if (options.Count == 0) continue;
                twoOption++;
                Assert.Equal(2, options.Count);
                Assert.NotEqual(options[0].Text, options[1].Text);
                Assert.DoesNotContain(q.Answer, new[] { "yes", "no" });
                // The answer is one option's text, which the benchmark's parser maps to that option.
                var right = Assert.Single(options, o => o.Text == q.Answer);
                Assert.Equal(right.Letter, Deem.Benchmarks.Mmvp.ParseOption(q.Answer, options));
            }
        }
        // Both formats appear, each on a minority of the questions.
        Assert.InRange(twoOption, total / 20, total / 3);
        Assert.InRange(oneWord, total / 40, total / 3);
    }

    [Fact]
    public void StoriesChangeOneThingPerImage()
    {
        for (int i = 0; i < 30; i++)
        {
            var st = StoryGenerator.Make(WorldRng.For(0, "story-test", i), 4);
            Assert.Equal(4, st.Images.Count);
            Assert.Equal(st.Images.Count, st.Matched.Count);
            Assert.Equal(Enumerable.Range(0, 4), st.Matched);
            for (int k = 1; k < 4; k++)
                Assert.NotEqual(st.Images[k - 1].ContentKey, st.Images[k].ContentKey);
        }
    }
}
