using Deem.Benchmarks;
using Deem.Tests.Data;
using Deem.Tests.World.Benchmarks;

namespace Deem.Tests.Benchmarks;

/// <summary>Missing benchmark files and a broken CSV are one-line errors naming the file, never a framework exception.</summary>
public class BenchmarkInputErrorTests
{
    [Fact]
    public void AMissingRobustVqaFileIsNamed()
    {
        using var dir = new TempDir();
        var path = dir["robustvqa_test.json"];
        var e = Assert.Throws<DeemFormatException>(() => RobustVqa.Load(path));
        Assert.Equal($"{path}: RobustVQA benchmark file not found.", e.Message);
        Assert.Throws<DeemFormatException>(() => RobustVqaRunner.Run(new AlwaysYes(), path, dir.Path, dir["out"]));
    }

    [Fact]
    public void AMissingPopeSplitIsNamedBeforeAnySplitRuns()
    {
        using var dir = new TempDir();
        var random = dir["coco_pope_random.json"];
        Assert.Equal($"{random}: POPE question file not found.", Assert.Throws<DeemFormatException>(() => Pope.Load(random)).Message);
        // random present, adversarial missing: the run stops before answering random.
        File.WriteAllText(random, "{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"Is there a cat?\", \"label\": \"yes\"}\n");
        File.WriteAllText(dir["coco_pope_popular.json"], File.ReadAllText(random));
        var e = Assert.Throws<DeemFormatException>(() => PopeRunner.Run(new AlwaysYes(), dir.Path, dir.Path, dir["out"]));
        Assert.Contains("coco_pope_adversarial.json: POPE question file not found", e.Message);
        Assert.False(Directory.Exists(dir["out"]) && Directory.EnumerateFiles(dir["out"]).Any());
    }

    [Fact]
    public void AnUnterminatedCsvQuoteNamesTheFileAndTheLine()
    {
        var e = Assert.Throws<DeemFormatException>(() => Csv.Parse("Index,Question\n1,\"fine\"\n2,\"never closed\n3,x\n", "Questions.csv"));
        Assert.Equal("Questions.csv: line 3: a quoted field is never closed (the file ends inside it)", e.Message);
        // A quoted field spanning lines is still fine.
        Assert.Equal("a\nb", Csv.Parse("1,\"a\nb\"\n", "x.csv")[0][1]);

        using var dir = new TempDir();
        var missing = Assert.Throws<DeemFormatException>(() => Mmvp.Load(dir.Path));
        Assert.Contains("Questions.csv: MMVP question file not found", missing.Message);
        File.WriteAllText(Path.Combine(dir.Path, Mmvp.QuestionsFile), "Index,Question,Options,Correct Answer\n1,\"Is it?");
        Assert.StartsWith(Path.Combine(dir.Path, Mmvp.QuestionsFile) + ": line 2:", Assert.Throws<DeemFormatException>(() => Mmvp.Load(dir.Path)).Message);
    }
}
