using System.Text.Json.Nodes;
using Deem.Benchmarks;
using Deem.World;
using Deem.World.Benchmarks;

namespace Deem.Tests.World.Benchmarks;

public class WorldBreakdownTests
{
    [Fact]
    public void WriteGivesInDistributionBesideTheShiftedMeanAndMmvpBySeenAndWritesItsFile()
    {
        string dir = Path.Combine(Path.GetTempPath(), "deem-breakdown-" + Guid.NewGuid().ToString("N"));
        string mmvpDir = Path.Combine(dir, "mmvp"), outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(mmvpDir);
        try
        {
            File.WriteAllLines(Path.Combine(mmvpDir, WorldMmvp.PairsFile),
            [
                """{"pair":1,"indices":[1,2],"attribute":"colour","clip_seen":true}""",
                """{"pair":2,"indices":[3,4],"attribute":"orientation","clip_seen":false}""",
                """{"pair":3,"indices":[5,6],"attribute":"count","clip_seen":false}""",
            ]);
            string preds = Path.Combine(dir, "mmvp_predictions.jsonl");
            File.WriteAllLines(preds,
            [
                """{"id":"1","correct":false}""", """{"id":"2","correct":true}""", """{"id":"3","correct":true}""",
                """{"id":"4","correct":true}""", """{"id":"5","correct":true}""", """{"id":"6","correct":false}""",
            ]);
            var perSplit = new Dictionary<string, double>
            {
                ["imagenet_a"] = 60, ["imagenet_r"] = 70, ["imagenet_v2"] = 80, [WorldWriter.InDistributionFolder] = 90,
            };
            var suite = new BenchmarkSuiteResult(
                new RobustVqaRunResult(new RobustVqaScores(perSplit, 75), 10, 10, "", ""), null,
                new MmvpRunResult(new MmvpScores(100.0 / 3, 50, 1, 3, 4, 6), 6, preds, ""));

            string table = WorldBreakdown.Write(suite, new BenchmarkPaths(MmvpDir: mmvpDir), outDir);

            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, WorldBreakdown.FileName)))!.AsObject();
            Assert.Equal(90.0, json[WorldBreakdown.InDistribution]!.GetValue<double>());
            Assert.Equal(70.0, json[WorldBreakdown.Ood]!.GetValue<double>());             // mean of A, R, V
            Assert.Equal(0.0, json[WorldBreakdown.MmvpSeen]!.GetValue<double>());        // pair 1: one question wrong
            Assert.Equal(50.0, json[WorldBreakdown.MmvpUnseen]!.GetValue<double>());     // pair 2 right, pair 3 not
            Assert.Equal("| RVQA-ID | RVQA-OOD | MMVP seen | MMVP unseen |\n|---|---|---|---|\n| 90.00 | 70.00 | 0.00 | 50.00 |", table);
            Assert.Equal([WorldBreakdown.FileName], Directory.GetFiles(outDir).Select(Path.GetFileName));   // no temp file left
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void PopeRecallIsSplitByTheSizeOfTheAskedObjectsLargestInstance()
    {
        using var tmp = new TempDir();
        string popeDir = Path.Combine(tmp.Path, "pope"), outDir = Path.Combine(tmp.Path, "out");
        Directory.CreateDirectory(Path.Combine(popeDir, "annotations"));
        static Deem.Data.Formats.CocoAnnotation Box(long id, long image, int category, double w, double h) =>
            new(id, image, category, new Deem.Data.Formats.CocoSegmentation([[0, 0, w, 0, w, h]], null), [1, 1, w, h], w * h / 2, 0);
        string instances = Path.Combine(popeDir, WorldPope.InstancesFile);
        Deem.Data.Formats.Coco.Write(instances, new Deem.Data.Formats.CocoDataset(
            [new(1, "a.png", 100, 100), new(2, "b.png", 100, 100)],
            [
                Box(1, 1, 1, 10, 15), Box(2, 1, 1, 30, 30),   // two houses in a.png: the larger one sets the size (0.30, large)
                Box(3, 1, 2, 18, 20),                          // a star whose longer side is 0.20 of the image: small, the bound included
                Box(4, 2, 3, 50, 40),                          // a large cross in b.png
            ],
            [new(1, "house", "shape"), new(2, "star", "shape"), new(3, "cross", "shape"), new(4, "ring", "shape")]));
        File.WriteAllLines(Path.Combine(popeDir, Pope.FileName("random")),
        [
            """{"question_id":0,"image":"a.png","text":"Is there a house in the image?","label":"yes"}""",
            """{"question_id":1,"image":"a.png","text":"Is there a star in the image?","label":"yes"}""",
            """{"question_id":2,"image":"a.png","text":"Is there a ring in the image?","label":"no"}""",
            """{"question_id":3,"image":"b.png","text":"Is there a cross in the image?","label":"yes"}""",
        ]);
        string preds = Path.Combine(tmp.Path, "pope_random_predictions.jsonl");
        File.WriteAllLines(preds,
        [
            """{"id":"0","correct":true}""", """{"id":"1","correct":false}""", """{"id":"2","correct":false}""", """{"id":"3","correct":true}""",
        ]);
        var metrics = new PopeMetrics(2, 1, 0, 1, 0.5, 2 / 3.0, 2 / 3.0, 2 / 3.0, 0.75);
        var suite = new BenchmarkSuiteResult(null, new PopeRunResult([new PopeSplitResult("random", 50, metrics, 4, 4, preds)], ""), null);

        var m = WorldBreakdown.Metrics(suite, new BenchmarkPaths(PopeDir: popeDir));
        Assert.Equal(0.0, m[WorldBreakdown.PopeSmall]);        // the star: missed
        Assert.Equal(100.0, m[WorldBreakdown.PopeLarge]);      // the house and the cross: found; the "no" question is not recall
        Assert.Equal([WorldBreakdown.PopeSmall, WorldBreakdown.PopeLarge], m.Keys);
        Assert.Contains("| POPE recall small | POPE recall large |", WorldBreakdown.Write(suite, new BenchmarkPaths(PopeDir: popeDir), outDir));

        File.AppendAllLines(Path.Combine(popeDir, Pope.FileName("random")), ["""{"question_id":4,"image":"b.png","text":"Is there a star in the image?","label":"yes"}"""]);
        var e = Assert.Throws<DeemFormatException>(() => WorldBreakdown.Metrics(suite, new BenchmarkPaths(PopeDir: popeDir)));
        Assert.Contains("question 4 asks about an object", e.Message);
        Assert.Contains(Pope.FileName("random"), e.Message);
    }
}
