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
}
