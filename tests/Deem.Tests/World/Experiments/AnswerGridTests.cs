using System.Text.Json.Nodes;
using Deem.Benchmarks;
using Deem.Plotting;
using Deem.World;
using Deem.World.Benchmarks;
using Deem.World.Experiments;
using SkiaSharp;

namespace Deem.Tests.World.Experiments;

public class AnswerGridTests
{
    static void Png(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(8, 8);
        bitmap.Erase(SKColors.Orange);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    static void Lines(string path, IEnumerable<JsonObject> records) =>
        File.WriteAllLines(path, records.Select(r => r.ToJsonString()));

    static JsonObject Record(string id, string image, string prompt, string label, string answer, bool correct) =>
        new() { ["id"] = id, ["image"] = image, ["prompt"] = prompt, ["label"] = label, ["answer"] = answer, ["correct"] = correct };

    // An evaluation folder as CsrExperiment leaves it: 3 questions per RobustVQA split, 3 per POPE split, two MMVP pairs.
    static BenchmarkPaths FakeRun(TempDir dir)
    {
        Directory.CreateDirectory(dir["eval"]);
        var robust = new List<JsonObject>();
        foreach (var split in new[] { WorldWriter.InDistributionFolder, "imagenet_a", "imagenet_r", "imagenet_v2" })
            for (int i = 0; i < 3; i++)
            {
                string file = $"{split}/{i}.png";
                Png(dir["robust/" + file]);
                robust.Add(Record($"{split}/{file}/yes", file, $"Is circle{i} the main object in this image? Please anwser yes or no", "yes", i == 1 ? "no" : "yes", i != 1));
            }
        Lines(dir["eval/" + RobustVqaRunner.PredictionsFile], robust);
        Png(dir["pope/images/p.png"]);
        foreach (var split in new[] { "random", "popular", "adversarial" })
            Lines(dir["eval/" + PopeRunner.PredictionsFile(split)],
                Enumerable.Range(0, 3).Select(i => Record($"{i}", "p.png", $"Is there a {split}{i} in the image? Please anwser yes or no", "no", "no", true)));
        Directory.CreateDirectory(dir["mmvp"]);
        for (int i = 1; i <= 4; i++) Png(dir[$"mmvp/{Mmvp.ImagesFolder}/{i}.jpg"]);
        Lines(dir["eval/" + MmvpRunner.PredictionsFile],
            Enumerable.Range(1, 4).Select(i => Record($"{i}", $"{Mmvp.ImagesFolder}/{i}.jpg", $"Where does it point? (a) up (b) down #{i}", "(a)", "(b)", false)));
        File.WriteAllLines(dir["mmvp/" + WorldMmvp.PairsFile],
        [
            """{"pair": 1, "indices": [1, 2], "attribute": "color", "clip_seen": true}""",
            """{"pair": 2, "indices": [3, 4], "attribute": "orientation", "clip_seen": false}""",
        ]);
        return new BenchmarkPaths(dir["robust/robustvqa_test.json"], dir["robust"], dir["pope"], dir["pope/images"], dir["mmvp"]);
    }

    [Fact]
    public void RowsComeFromThePredictionFilesWithImageQuestionAnswerAndTruth()
    {
        using var dir = new TempDir();
        var rows = AnswerGrid.Collect(dir["eval"], FakeRun(dir));
        Assert.Equal(4 * 3 + 3 * 3 + 4, rows.Count);

        var wrong = rows.Single(r => r.Group == WorldBreakdown.InDistribution && !r.Correct);
        Assert.Equal("Is circle1 the main object in this image?", wrong.Question);       // the fixed instruction is dropped
        Assert.Equal(("no", "yes"), (wrong.Answer, wrong.Truth));
        Assert.True(File.Exists(wrong.ImagePath));
        Assert.Contains("ID", wrong.Split);
        Assert.Contains("OOD", rows.First(r => r.Group == "RVQA-A").Split);

        var unseen = rows.Where(r => r.Group == WorldBreakdown.MmvpUnseen).ToList();
        Assert.Equal(2, unseen.Count);
        Assert.Single(unseen.Select(r => r.Unit).Distinct());                          // one pair
        Assert.EndsWith(Path.Combine(Mmvp.ImagesFolder, "3.jpg"), unseen[0].ImagePath);
        Assert.Contains("orientation", unseen[0].Split);
    }

    [Fact]
    public void PickTakesEvenlySpacedRowsPerGroupAndWholePairs()
    {
        using var dir = new TempDir();
        var picked = AnswerGrid.Pick(AnswerGrid.Collect(dir["eval"], FakeRun(dir)));
        Assert.Equal(16, picked.Count);
        Assert.Equal(AnswerGrid.DefaultQuota.SelectMany(q => Enumerable.Repeat(q.Group, q.Tiles)), picked.Select(r => r.Group));
        // Of 3 rows, 2 evenly spaced: the first and the last, whether right or wrong.
        Assert.Equal(["circle0", "circle2"], picked.Take(2).Select(r => r.Question.Split(' ')[1]));
        Assert.Equal(["#3", "#4"], picked.TakeLast(2).Select(r => r.Question.Split(' ')[^1]));
    }

    [Fact]
    public void PickShowsAQuestionOnAnImageOnce()
    {
        AnswerRow Row(string group, int i, string question) => new(group, group, i, "same.png", question, "yes", "yes", true);
        var rows = new[] { Row("POPE-R", 0, "star"), Row("POPE-R", 1, "heart"), Row("POPE-A", 2, "ring"), Row("POPE-A", 3, "heart") };
        // Evenly spaced, each group's one pick is its second row; POPE-A's has been shown, so its first instead.
        Assert.Equal(["heart", "ring"], AnswerGrid.Pick(rows, [("POPE-R", 1), ("POPE-A", 1)]).Select(r => r.Question));
        // More wanted than there are: the group gives what it has.
        Assert.Equal(["star", "heart"], AnswerGrid.Pick(rows, [("POPE-R", 5)]).Select(r => r.Question));
        Assert.Single(AnswerGrid.Pick([Row("POPE-R", 0, "x"), Row("POPE-A", 1, "x")], [("POPE-R", 1), ("POPE-A", 1)]));
    }

    [Fact]
    public void AGroupsPicksShowBothTruthsWhenItHasBoth()
    {
        AnswerRow Row(int i, string truth) => new("POPE-R", "POPE random", i, $"{i}.png", $"q{i}", "no", truth, truth == "no");
        // Evenly spaced picks of 2 among 8 would be rows 2 and 6, both "no"; the second moves on to the next "yes".
        var rows = new[] { Row(0, "yes"), Row(1, "no"), Row(2, "no"), Row(3, "no"), Row(4, "no"), Row(5, "no"), Row(6, "no"), Row(7, "yes") };
        Assert.Equal(["q2", "q7"], AnswerGrid.Pick(rows, [("POPE-R", 2)]).Select(r => r.Question));
        // A group with one truth only keeps the evenly spaced picks.
        var allNo = rows.Select(r => r with { Truth = "no" }).ToArray();
        Assert.Equal(["q2", "q6"], AnswerGrid.Pick(allNo, [("POPE-R", 2)]).Select(r => r.Question));
    }

    [Fact]
    public void SixteenRowsMakeAFourByFourPicture()
    {
        using var dir = new TempDir();
        var picked = AnswerGrid.Pick(AnswerGrid.Collect(dir["eval"], FakeRun(dir)));
        string png = dir["answers.png"];
        AnswerGrid.Write(png, picked);
        using var image = SKBitmap.Decode(png);
        Assert.Equal(ImageGrid.SizeOf(16, new ImageGridOptions()), (image.Width, image.Height));
        Assert.Equal(ImageGrid.SizeOf(4, new ImageGridOptions()).Width, image.Width);
        var md = AnswerGrid.Markdown(picked);
        Assert.Equal(2 + 16, md.Trim().Split('\n').Length);
    }

    [Fact]
    public void TilesAreFramedGreenWhenRightAndRedWhenWrong()
    {
        var right = AnswerGrid.Tile(new AnswerRow("RVQA-A", "RobustVQA-A (OOD)", 0, "x.png", "q", "yes", "yes", true));
        var wrong = AnswerGrid.Tile(new AnswerRow("RVQA-A", "RobustVQA-A (OOD)", 0, "x.png", "q", "", "yes", false));
        Assert.True(right.Frame.Green > right.Frame.Red);
        Assert.True(wrong.Frame.Red > wrong.Frame.Green);
        Assert.Contains(wrong.Lines, l => l.Text.Contains("(nothing)") && l.Color == wrong.Frame);
        Assert.Contains(right.Lines, l => l.Text == "truth: yes");
    }
}
