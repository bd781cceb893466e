using Deem.Data.Formats;
using Deem.Diagnostics;
using Deem.Model;
using Deem.World;
using SkiaSharp;
using TorchSharp;

namespace Deem.Tests.Diagnostics;

public class EncoderProbeTests
{
    [Theory]
    [InlineData("<image>\nIs there a heart in the image? Please anwser yes or no", "presence", "heart")]
    [InlineData("Is there an arrow in the image?", "presence", "arrow")]
    [InlineData("Is t_shape the main object in this image? Please anwser yes or no", "main object", "t_shape")]
    [InlineData("which way does the arrow point? (a) left (b) right", "orientation", "arrow")]
    [InlineData("how many squares are there? Please provide an accurate answer within one word.", "count", "squares")]
    public void ParseFindsTheFamilyAndObjectBehindTheInstructions(string question, string family, string obj) =>
        Assert.Equal((family, obj), EncoderProbe.Parse(question));

    [Theory]
    [InlineData("how many red squares are there?")]
    [InlineData("what colour is the heart?")]
    [InlineData("is there a black square?")]
    public void ParseLeavesOtherQuestionsOut(string question) => Assert.Null(EncoderProbe.Parse(question));

    /// <summary>
    /// Images show a red or a blue square; the presence answers follow the colour, the orientation answers
    /// are drawn independently of the image. A probe on even a random encoder reads the first and cannot
    /// read the second: the held-out accuracies must say so.
    /// </summary>
    [Fact]
    public void ProbeReadsWhatTheImagesShowAndNothingElse()
    {
        using var dir = new TempDir();
        var rng = new Random(11);
        var items = new List<LlavaItem>();
        for (int i = 0; i < 120; i++)
        {
            bool red = i % 2 == 0;
            string path = dir[$"{i:D3}.png"];
            using (var bitmap = new SKBitmap(64, 64))
            using (var canvas = new SKCanvas(bitmap))
            using (var paint = new SKPaint { Color = red ? SKColors.Red : SKColors.Blue })
            {
                canvas.Clear(SKColors.Gray);
                int x = rng.Next(0, 40), y = rng.Next(0, 40);
                canvas.DrawRect(x, y, 24, 24, paint);
                canvas.Flush();
                File.WriteAllBytes(path, ImageFiles.Encode(bitmap, ".png"));
            }
            items.Add(new LlavaItem($"{i}", $"{i:D3}.png",
            [
                new("human", "<image>\nIs there a square in the image? Please anwser yes or no"), new("gpt", red ? "yes" : "no"),
                new("human", "which way does the arrow point?"), new("gpt", rng.Next(2) == 0 ? "left" : "right"),
            ]) { ImagePath = path });
        }
        // POPE's layout: the last 20 images asked about in coco_pope_random.json, plus one question about an
        // object no training question names (left out).
        string pope = Directory.CreateDirectory(dir["pope"]).FullName;
        var lines = Enumerable.Range(100, 20).Select(i => $"{{\"question_id\":{i},\"image\":\"{i:D3}.png\",\"text\":\"Is there a square in the image?\",\"label\":\"{(i % 2 == 0 ? "yes" : "no")}\"}}")
            .Append("{\"question_id\":999,\"image\":\"100.png\",\"text\":\"Is there a star in the image?\",\"label\":\"no\"}");
        File.WriteAllLines(Path.Combine(pope, "coco_pope_random.json"), lines);

        using var model = new DeemModel(WorldPresets.TinyLlava, new torch.Generator(5));
        var report = EncoderProbe.Run(model, items, new EncoderProbeOptions(TrainImages: 80, TestImages: 40, Steps: 300, Hidden: [0]), resolution: 64,
            popeFolder: pope, popeImages: dir.Path);

        Assert.Equal(["presence", "orientation"], report.Families.Select(f => f.Family));
        Assert.Equal([80, 80], report.Families.Select(f => f.TrainQuestions));
        Assert.Equal([40, 40], report.Families.Select(f => f.TestQuestions));
        Assert.Equal(0.5, report.Families[0].BlindAccuracy, 3);            // 20 red, 20 blue held-out images
        Assert.Equal(6, report.Rows.Count);                                 // 2 families × 3 feature kinds × 1 head
        var mean = report.Rows.Where(r => r.Features == "encoder mean").ToDictionary(r => r.Family);
        Assert.True(mean["presence"].TestAccuracy >= 0.95, $"presence held-out {mean["presence"].TestAccuracy:P1}");
        Assert.True(mean["orientation"].TestAccuracy <= 0.8, $"orientation held-out {mean["orientation"].TestAccuracy:P1}");
        Assert.Equal(new Dictionary<string, int> { ["random"] = 20 }, report.PopeQuestions);   // the star question is not scored
        Assert.True(mean["presence"].Pope["random"] >= 0.95, $"presence on POPE {mean["presence"].Pope["random"]:P1}");
        Assert.All(report.Rows.Where(r => r.Family == "orientation"), r => Assert.Empty(r.Pope));
        // Labels drawn apart from the pixels can only be memorised: the token probe fits its 80 training answers and not
        // the held-out ones, which the report flags; the presence probe on the mean generalises and is not flagged.
        var tokens = report.Rows.Where(r => r.Features == "encoder tokens").ToDictionary(r => r.Family);
        Assert.True(tokens["orientation"].Overfits, $"orientation train {tokens["orientation"].TrainAccuracy:P1}, held-out {tokens["orientation"].TestAccuracy:P1}");
        Assert.False(mean["presence"].Overfits, $"presence train {mean["presence"].TrainAccuracy:P1}, held-out {mean["presence"].TestAccuracy:P1}");
    }
}
