using System.Text.Json.Nodes;
using Deem.Benchmarks;

namespace Deem.Tests.Benchmarks;

public sealed class EvalRecordsTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "deem-bench-" + Guid.NewGuid().ToString("N"));

    public EvalRecordsTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    static JsonObject Answer(string text) => new() { ["answer"] = text };

    // An evaluation loop: skips finished ids, "evaluates" the rest, counts how many it evaluated.
    static int RunLoop(string path, string[] ids)
    {
        using var log = PredictionLog.Open(path);
        int evaluated = 0;
        foreach (string id in ids)
        {
            if (log.IsFinished(id)) continue;
            log.Append(id, Answer("ans-" + id));
            evaluated++;
        }
        return evaluated;
    }

    [Fact]
    public void ResumeSkipsFinishedItems()
    {
        string path = Path.Combine(_dir, "preds.jsonl");
        Assert.Equal(2, RunLoop(path, ["q1", "q2"]));
        // restart with more items: only the new ones are evaluated
        Assert.Equal(2, RunLoop(path, ["q1", "q2", "q3", "q4"]));
        Assert.Equal(0, RunLoop(path, ["q1", "q2", "q3", "q4"]));

        var records = PredictionLog.ReadAll(path);
        Assert.Equal(["q1", "q2", "q3", "q4"], records.Select(r => (string)r["id"]!).ToArray());
        Assert.Equal("ans-q3", (string)records[2]["answer"]!);
        Assert.Equal(4, File.ReadAllLines(path).Length);
    }

    [Fact]
    public void ATruncatedLastLineIsDroppedAndRewritten()
    {
        string path = Path.Combine(_dir, "preds.jsonl");
        RunLoop(path, ["q1", "q2"]);
        // a crash in the middle of writing q3's line
        File.AppendAllText(path, "{\"answer\":\"ans-q3\",\"i");
        using (var log = PredictionLog.Open(path))
        {
            Assert.Equal(new HashSet<string> { "q1", "q2" }, log.FinishedIds.ToHashSet());
            Assert.False(log.IsFinished("q3"));
            log.Append("q3", Answer("redone"));
        }
        string[] lines = File.ReadAllLines(path);
        Assert.Equal(3, lines.Length);
        Assert.Equal("redone", (string)JsonNode.Parse(lines[2])!["answer"]!);
        Assert.All(lines, l => Assert.NotNull(JsonNode.Parse(l)));
    }

    [Fact]
    public void ACompleteRecordWithoutItsNewlineCountsAsUnfinished()
    {
        string path = Path.Combine(_dir, "preds.jsonl");
        File.WriteAllText(path, "{\"id\":\"q1\",\"answer\":\"a\"}\n{\"id\":\"q2\",\"answer\":\"b\"}");
        using var log = PredictionLog.Open(path);
        Assert.True(log.IsFinished("q1"));
        Assert.False(log.IsFinished("q2"));
        Assert.Equal("{\"id\":\"q1\",\"answer\":\"a\"}\n", File.ReadAllText(path));
    }

    [Fact]
    public void CorruptCompleteLinesAndDuplicatesAreFormatErrors()
    {
        string bad = Path.Combine(_dir, "bad.jsonl");
        File.WriteAllText(bad, "{\"id\":\"q1\"}\nnot json\n{\"id\":\"q2\"}\n");
        var e = Assert.Throws<DeemFormatException>(() => PredictionLog.Open(bad));
        Assert.Contains("line 2", e.Message);

        string dup = Path.Combine(_dir, "dup.jsonl");
        File.WriteAllText(dup, "{\"id\":\"q1\"}\n{\"id\":\"q1\"}\n");
        Assert.Throws<DeemFormatException>(() => PredictionLog.ReadAll(dup));

        string path = Path.Combine(_dir, "preds.jsonl");
        using var log = PredictionLog.Open(path);
        log.Append("q1", Answer("x"));
        Assert.Throws<InvalidOperationException>(() => log.Append("q1", Answer("y")));
    }

    [Fact]
    public void ScoresAreWrittenAtomicallyAndReadBack()
    {
        string path = Path.Combine(_dir, "out", "scores.json");
        ScoresFile.Write(path, new Dictionary<string, double> { ["accuracy"] = 68.87, ["f1"] = 0.5 });
        ScoresFile.Write(path, new Dictionary<string, double> { ["accuracy"] = 70.0 }); // replaces
        var read = ScoresFile.Read(path);
        Assert.Equal(70.0, (double)read["accuracy"]!);
        Assert.False(read.ContainsKey("f1"));
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "out"))); // no temp file left behind
    }
}
