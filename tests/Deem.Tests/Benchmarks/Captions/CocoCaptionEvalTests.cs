using Deem.Benchmarks;
using Deem.Tests.IO;

namespace Deem.Tests.Benchmarks;

/// <summary>The COCO caption scorer on tiny files in the official layouts.</summary>
public class CocoCaptionEvalTests
{
    const string Annotations = """
        {"info": {}, "licenses": [], "type": "captions",
         "images": [{"id": 1, "file_name": "COCO_val2014_000000000001.jpg"}, {"id": 2, "file_name": "COCO_val2014_000000000002.jpg"}],
         "annotations": [
           {"image_id": 1, "id": 101, "caption": "A man riding a wave on top of a surfboard."},
           {"image_id": 1, "id": 102, "caption": "A surfer rides a big wave."},
           {"image_id": 2, "id": 201, "caption": "Two dogs playing in the snow."}]}
        """;

    static (string a, string r) Write(TempDir dir, string results)
    {
        string a = dir.File("captions_val2014.json"), r = dir.File("captions_results.json");
        File.WriteAllText(a, Annotations);
        File.WriteAllText(r, results);
        return (a, r);
    }

    [Fact]
    public void ScoresEqualTheMetricsOnTheTokenisedCaptions()
    {
        using var dir = new TempDir();
        var (a, r) = Write(dir, """[{"image_id": 1, "caption": "A man riding a wave!"}, {"image_id": 2, "caption": "Two dogs, playing in the snow"}]""");
        var report = CocoCaptionEval.Evaluate(a, r);
        Assert.Equal(2, report.Images);
        Assert.Equal(3, report.References);
        var expected = CaptionMetrics.Evaluate(
            new Dictionary<string, IReadOnlyList<string>> { ["1"] = ["A man riding a wave on top of a surfboard.", "A surfer rides a big wave."], ["2"] = ["Two dogs playing in the snow."] },
            new Dictionary<string, string> { ["1"] = "a man riding a wave", ["2"] = "two dogs playing in the snow" });
        Assert.Equal(expected, report.Scores);
        Assert.True(report.Scores.Bleu1 > 0.9 && report.Scores.Bleu1 <= 1.0);
    }

    [Fact]
    public void OnlyTheResultsImagesAreScored()
    {
        using var dir = new TempDir();
        var (a, r) = Write(dir, """[{"image_id": 2, "caption": "two dogs playing in the snow"}]""");
        var report = CocoCaptionEval.Evaluate(a, r);
        Assert.Equal(1, report.Images);
        Assert.Equal(1.0, report.Scores.Bleu4, 6);
    }

    [Theory]
    [InlineData("""[{"image_id": 3, "caption": "x"}]""", "no reference caption")]
    [InlineData("""[{"image_id": 1}]""", "field 'caption' is missing")]
    [InlineData("""[{"caption": "x"}]""", "field 'image_id' is missing")]
    [InlineData("""[{"image_id": 1, "caption": "x"}, {"image_id": 1, "caption": "y"}]""", "more than one result caption")]
    [InlineData("""[]""", "no results")]
    public void BadResultsAreNamedErrors(string results, string mention)
    {
        using var dir = new TempDir();
        var (a, r) = Write(dir, results);
        var ex = Assert.Throws<DeemFormatException>(() => CocoCaptionEval.Evaluate(a, r));
        Assert.Equal(r, ex.File);
        Assert.Contains(mention, ex.Message);
    }
}
