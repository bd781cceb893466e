using System.Text;
using Deem.Data.Formats;

namespace Deem.Tests.Data.Formats;

/// <summary>Zero-byte shards and invalid UTF-8 lines: counted skips, or one-line errors under strict.</summary>
public class StrictInputTests
{
    [Fact]
    public void ZeroByteTarIsCountedOrAnErrorUnderStrict()
    {
        using var dir = new TempDir();
        string shard = dir["00000.tar"];
        File.WriteAllBytes(shard, []);
        var lenient = new SkipCounter();
        Assert.Empty(WebDataset.ReadShard(shard, lenient).ToList());
        Assert.Equal(1, lenient["empty tar"]);
        var ex = Assert.Throws<DeemFormatException>(() => WebDataset.ReadDirectory(dir.Path, new SkipCounter(strict: true)).ToList());
        Assert.Equal(shard, ex.File);
        Assert.Contains("zero bytes", ex.Message);
    }

    static byte[] Lines(params byte[][] lines) => lines.SelectMany(l => l.Concat("\n"u8.ToArray())).ToArray();

    [Fact]
    public void InvalidUtf8LineIsNamedUnderStrictNotReplaced()
    {
        using var dir = new TempDir();
        string path = dir["docs.jsonl"];
        byte[] bad = [.. "{\"text_list\": [\"caf"u8.ToArray(), 0xC3, 0x28, .. "\"], \"image_info\": []}"u8.ToArray()];
        File.WriteAllBytes(path, Lines("{\"text_list\": [\"a\"], \"image_info\": []}"u8.ToArray(), [], bad,
            "{\"text_list\": [\"caf\u00e9\"], \"image_info\": []}"u8.ToArray()));
        var ex = Assert.Throws<DeemFormatException>(() => Mmc4.Read(path, dir.Path, new SkipCounter(strict: true)).ToList());
        Assert.Equal(path, ex.File);
        Assert.Equal("line 3", ex.Key);
        Assert.Contains("not valid UTF-8 near byte 19", ex.Message);

        var lenient = new SkipCounter();
        var docs = Mmc4.Read(path, dir.Path, lenient).ToList();
        Assert.Equal(2, docs.Count);                        // lines 1 and 4; the bad line is not kept with U+FFFD
        Assert.Equal("caf\u00e9", docs[1].Document.TextList[0]);
        Assert.EndsWith(":4", docs[1].Source);
        Assert.Equal(1, lenient["invalid utf-8"]);
    }

    [Fact]
    public void JsonLinesHandlesCrlfBomAndAMissingFinalNewline()
    {
        byte[] bytes = [0xEF, 0xBB, 0xBF, .. "{\"a\":1}\r\n\r\n  \n{\"b\":2}"u8.ToArray()];
        var lines = JsonLines.Read(new MemoryStream(bytes), "x.jsonl", new SkipCounter(strict: true)).ToList();
        Assert.Equal([1, 4], lines.Select(l => l.Line));
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(lines[0].Bytes));
        Assert.Equal("{\"b\":2}", Encoding.UTF8.GetString(lines[1].Bytes));
    }
}
