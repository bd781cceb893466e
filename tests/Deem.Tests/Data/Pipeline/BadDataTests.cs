using Deem.Data.Formats;
using Deem.Data.Pipeline;
using Deem.World;
using Deem.Tests.Data;

namespace Deem.Tests.Data.Pipeline;

public class BadDataTests
{
    static TempDir BrokenWorld()
    {
        var d = new TempDir();
        WorldWriter.Make(d.Path, WorldOptions.Tiny with
        {
            ImageSize = 32,
            Counts = new WorldCounts { Mmc4Docs = 4, CaptionPairs = 4, VqaImages = 2, RegionImages = 2, TestImagesPerSplit = 0 },
            TestImagesInDistribution = 0,
            YesNo = YesNoMix.Mixed, // three turns per item
        });
        // A malformed line in the middle of the MMC4 shard and one image that does not decode.
        string jsonl = d["mmc4/docs_no_face_shard_0_v3.jsonl"];
        var lines = File.ReadAllLines(jsonl).ToList();
        lines.Insert(2, "{\"text_list\": [\"broken\"");
        File.WriteAllLines(jsonl, lines);
        var image = Directory.GetFiles(d["mmc4/images"]).OrderBy(f => f, StringComparer.Ordinal).First();
        File.WriteAllBytes(image, [0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3]);
        return d;
    }

    [Fact]
    public void CorruptRecordsAreSkippedAndCountedOrThrowInStrictMode()
    {
        using var d = BrokenWorld();
        var cfg = PipelineWorld.Stage(1) with { InterleavedBatchFraction = 1.0 };
        var skips = new SkipCounter();
        using (var s = new Stage1Stream(DataPaths.FromWorld(d.Path), cfg, PipelineWorld.Tok, PipelineWorld.ImageTokens, skips))
        {
            for (int n = 0; n < 4; n++) s.Next().Dispose();
            Assert.True(skips["bad json"] >= 1, skips.ToString());
            Assert.True(skips["unreadable image"] >= 1, skips.ToString());
            Assert.Contains(skips.Examples, e => e.Contains("line 3", StringComparison.Ordinal));
            // Totals survive a resume.
            var pos = s.Position;
            var again = new SkipCounter();
            using var r = new Stage1Stream(DataPaths.FromWorld(d.Path), cfg, PipelineWorld.Tok, PipelineWorld.ImageTokens, again, pos);
            Assert.Equal(skips["bad json"], r.SkipTotals["bad json"]);
            Assert.Equal(0, again.Total);
        }
        using var strict = new Stage1Stream(DataPaths.FromWorld(d.Path), cfg, PipelineWorld.Tok, PipelineWorld.ImageTokens, new SkipCounter(strict: true));
        var e = Assert.Throws<DeemFormatException>(() => { for (int n = 0; n < 4; n++) strict.Next().Dispose(); });
        Assert.True(e.Message.Contains("docs_no_face_shard_0_v3.jsonl") || e.Message.Contains(".jpg"), e.Message);
    }

    [Fact]
    public void CorruptLlavaItemIsSkippedAndCounted()
    {
        using var d = BrokenWorld();
        string json = d["llava/world_instruct.json"];
        var text = File.ReadAllText(json);
        int at = text.IndexOf("\"gpt\"", StringComparison.Ordinal);
        File.WriteAllText(json, text[..at] + "\"robot\"" + text[(at + 5)..]); // the first item only
        var skips = new SkipCounter();
        using var s = new SftStream(DataPaths.FromWorld(d.Path) with { CaptionQaShards = null }, PipelineWorld.Stage(2), PipelineWorld.Tok,
            PipelineWorld.ImageTokens, skips);
        Assert.Equal(1, skips["bad conversation"]);
        Assert.Equal(3, s.Items.Count); // the other item's three turns
        Assert.Throws<DeemFormatException>(() => new SftStream(DataPaths.FromWorld(d.Path), PipelineWorld.Stage(2), PipelineWorld.Tok,
            PipelineWorld.ImageTokens, new SkipCounter(strict: true)));
    }
}
