using System.Formats.Tar;
using System.Text;
using Deem.Data.Formats;
using Deem.World;

namespace Deem.Tests.Data;

public class FormatTests
{
    static byte[] Png(int seed, string ext = ".jpg")
    {
        using var r = SceneRenderer.Render(SceneSampler.Train(new WorldRng((ulong)seed)), 32, withMasks: false);
        return ImageFiles.Encode(r.Image, ext);
    }

    static Mmc4Document Doc(params string[] images) => new(
        ["there is a red heart.", "then it becomes blue."],
        images.Select((n, i) => new Mmc4ImageInfo(n, i % 2, 0.3 + i * 0.01, $"https://x.invalid/{n}")).ToList(),
        images.Select((_, i) => new[] { 0.3 + i * 0.01, 0.1 }).ToArray());

    [Fact]
    public void Mmc4RoundTripsAndUsesTheFirst12CharactersOfTheImageName()
    {
        using var d = new TempDir();
        Directory.CreateDirectory(d["img"]);
        File.WriteAllBytes(d["img/aaaaaaaaaaaa.jpg"], Png(1));
        File.WriteAllBytes(d["img/bbbbbbbbbbbb.jpg"], Png(2));
        var docs = new[] { Doc("aaaaaaaaaaaa.jpg", "bbbbbbbbbbbbXYZ.png"), Doc("bbbbbbbbbbbb.jpg") };
        Mmc4.Write(d["docs.jsonl"], docs);
        var skips = new SkipCounter(strict: true);
        var back = Mmc4.Read(d["docs.jsonl"], d["img"], skips).ToList();
        Assert.Equal(2, back.Count);
        Assert.Equal(docs[0].TextList, back[0].Document.TextList);
        Assert.Equal(docs[0].ImageInfo, back[0].Document.ImageInfo);
        Assert.Equal(docs[0].SimilarityMatrix, back[0].Document.SimilarityMatrix);
        Assert.EndsWith("bbbbbbbbbbbb.jpg", back[0].ImagePaths[1]);
        Assert.Equal(0, skips.Total);
    }

    [Fact]
    public void Mmc4SkipsAndCountsBadLinesAndMissingImagesStrictNamesFileAndLine()
    {
        using var d = new TempDir();
        Directory.CreateDirectory(d["img"]);
        File.WriteAllBytes(d["img/aaaaaaaaaaaa.jpg"], Png(1));
        File.WriteAllBytes(d["img/cccccccccccc.jpg"], [1, 2, 3, 4]); // not an image
        var lines = new[]
        {
            Encoding.UTF8.GetString(Mmc4.ToJsonLine(Doc("aaaaaaaaaaaa.jpg", "missing00000.jpg", "cccccccccccc.jpg"))),
            "{\"text_list\": [\"broken\"", // bad JSON
            "{\"image_info\": []}",        // missing text_list
            Encoding.UTF8.GetString(Mmc4.ToJsonLine(Doc("aaaaaaaaaaaa.jpg"))),
        };
        File.WriteAllLines(d["docs.jsonl"], lines);
        var skips = new SkipCounter();
        var back = Mmc4.Read(d["docs.jsonl"], d["img"], skips).ToList();
        Assert.Equal(2, back.Count);
        Assert.Single(back[0].Document.ImageInfo);
        Assert.Single(back[0].Document.SimilarityMatrix);
        Assert.Equal(2, skips["unreadable image"]);
        Assert.Equal(1, skips["bad json"]);
        Assert.Equal(1, skips["missing field"]);
        Assert.Equal(4, skips.Total);
        Assert.Contains(skips.Examples, e => e.Contains("line 3"));

        var strict = new SkipCounter(strict: true);
        var e = Assert.Throws<DeemFormatException>(() => Mmc4.Read(d["docs.jsonl"], d["img"], strict).ToList());
        Assert.Contains("missing00000.jpg", e.Message); // first problem: the missing image of line 1
        File.WriteAllLines(d["bad.jsonl"], [lines[3], lines[1]]);
        var e2 = Assert.Throws<DeemFormatException>(() => Mmc4.Read(d["bad.jsonl"], d["img"], new SkipCounter(strict: true)).ToList());
        Assert.Equal(d["bad.jsonl"], e2.File);
        Assert.Equal("line 2", e2.Key);
    }

    [Fact]
    public void WebDatasetShardsRoundTripAndAreDeterministic()
    {
        using var d = new TempDir();
        var samples = Enumerable.Range(0, 5).Select(i => new WdsSample($"00000{i:D4}", Png(i), $"caption {i}", $"https://x.invalid/{i}", 32, 32)).ToList();
        var shards = WebDataset.WriteShards(d["a"], samples, 2);
        Assert.Equal(["00000.tar", "00001.tar", "00002.tar"], shards.Select(Path.GetFileName));
        WebDataset.WriteShards(d["b"], samples, 2);
        Assert.Equal(File.ReadAllBytes(d["a/00000.tar"]), File.ReadAllBytes(d["b/00000.tar"]));
        var back = WebDataset.ReadDirectory(d["a"], new SkipCounter(strict: true)).ToList();
        Assert.Equal(samples.Select(s => (s.Key, s.Caption, s.Url, s.Width)), back.Select(s => (s.Key, s.Caption, s.Url, s.Width)));
        Assert.Equal(samples[3].Jpg, back[3].Jpg);
        // Entry names as img2dataset writes them.
        using var fs = File.OpenRead(d["a/00000.tar"]);
        var names = new List<string>();
        var tr = new TarReader(fs);
        while (tr.GetNextEntry() is { } e) names.Add(e.Name);
        Assert.Equal(["000000000.jpg", "000000000.json", "000000000.txt", "000000001.jpg", "000000001.json", "000000001.txt"], names);
    }

    [Fact]
    public void WebDatasetSkipsBrokenSamples()
    {
        using var d = new TempDir();
        using (var fs = File.Create(d["00000.tar"]))
        using (var tw = new TarWriter(fs, TarEntryFormat.Ustar))
        {
            void Add(string n, byte[] b) => tw.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, n) { DataStream = new MemoryStream(b) });
            Add("a.jpg", Png(1)); Add("a.txt", "ok"u8.ToArray());
            Add("b.json", "{\"caption\": \"no image\"}"u8.ToArray());
            Add("c.jpg", [9, 9, 9]); Add("c.txt", "bad image"u8.ToArray());
            Add("d.jpg", Png(2)); Add("d.json", "{oops"u8.ToArray());
        }
        var skips = new SkipCounter();
        var back = WebDataset.ReadShard(d["00000.tar"], skips).ToList();
        Assert.Equal(["a"], back.Select(s => s.Key));
        Assert.Equal(1, skips["missing image"]);
        Assert.Equal(1, skips["unreadable image"]);
        Assert.Equal(1, skips["bad json"]);
        var e = Assert.Throws<DeemFormatException>(() => WebDataset.ReadShard(d["00000.tar"], new SkipCounter(strict: true)).ToList());
        Assert.Equal("b", e.Key);
    }

    [Fact]
    public void LlavaRoundTripsAndCountsBadItems()
    {
        using var d = new TempDir();
        Directory.CreateDirectory(d["world"]);
        File.WriteAllBytes(d["world/x.jpg"], Png(1));
        var items = new[]
        {
            new LlavaItem("x", "world/x.jpg", [new("human", "<image>\nwhat colour is the key?"), new("gpt", "gray")]),
            new LlavaItem("y", "world/missing.jpg", [new("human", "<image>\nq"), new("gpt", "a")]),
            new LlavaItem("z", "world/x.jpg", [new("gpt", "a"), new("human", "q")]),
        };
        Llava.Write(d["instruct.json"], items);
        var skips = new SkipCounter();
        var back = Llava.Read(d["instruct.json"], d.Path, skips);
        Assert.Single(back);
        Assert.Equal(items[0].Conversations, back[0].Conversations);
        Assert.Equal(d["world/x.jpg"], back[0].ImagePath);
        Assert.Equal(1, skips["unreadable image"]);
        Assert.Equal(1, skips["bad conversation"]);
        var e = Assert.Throws<DeemFormatException>(() => Llava.Read(d["instruct.json"], d.Path, new SkipCounter(strict: true)));
        Assert.Equal("[1] y", e.Key);
    }

    [Fact]
    public void RleMatchesHandCheckedCases()
    {
        // [[0, 1], [1, 1]] in column-major order is 0,1,1,1 → counts [1, 3] → "13".
        var rle = CocoRle.Encode([0, 1, 1, 1], 2, 2);
        Assert.Equal([1L, 3L], rle.Counts);
        Assert.Equal("13", rle.ToCompressedString());
        // A 4th count is stored as the difference to the 2nd: 1 − 2 = −1 → 31 + 48 = 'O'.
        Assert.Equal("523O", new CocoRle(11, 1, [5, 2, 3, 1]).ToCompressedString());
        // 100 = 3·32 + 4: low group 4 with the continue bit (36 + 48 = 'T'), then 3.
        Assert.Equal("T3", CocoRle.Encode(new byte[100], 10, 10).ToCompressedString());
        Assert.Equal([100L], CocoRle.FromCompressedString("T3", 10, 10).Counts);
        Assert.Equal([5L, 2L, 3L, 1L], CocoRle.FromCompressedString("523O", 11, 1).Counts);
        // A mask that starts with 1 begins with an empty 0-run.
        Assert.Equal([0L, 2L, 2L], CocoRle.Encode([1, 0, 1, 0], 2, 2).Counts);
    }

    [Fact]
    public void RleRoundTripsRandomMasks()
    {
        var rng = new WorldRng(9);
        for (int t = 0; t < 200; t++)
        {
            int h = rng.Next(1, 40), w = rng.Next(1, 40);
            double p = rng.NextDouble();
            var mask = Enumerable.Range(0, h * w).Select(_ => rng.Chance(p) ? (byte)1 : (byte)0).ToArray();
            var rle = CocoRle.Encode(mask, h, w);
            Assert.Equal(mask, rle.Decode());
            Assert.Equal(mask.Count(b => b == 1), rle.Area);
            var s = rle.ToCompressedString();
            Assert.Equal(rle.Counts, CocoRle.FromCompressedString(s, h, w).Counts);
        }
    }

    [Fact]
    public void CocoRoundTripsPolygonsAndBothRleForms()
    {
        using var d = new TempDir();
        Directory.CreateDirectory(d["img"]);
        File.WriteAllBytes(d["img/1.png"], Png(1, ".png"));
        var mask = new byte[32 * 32];
        for (int y = 3; y < 9; y++) for (int x = 5; x < 20; x++) mask[y * 32 + x] = 1;
        var rle = CocoRle.Encode(mask, 32, 32);
        var data = new CocoDataset(
            [new CocoImage(1, "1.png", 32, 32), new CocoImage(2, "gone.png", 32, 32)],
            [
                new CocoAnnotation(1, 1, 3, CocoSegmentation.FromPolygons([[5, 3, 20, 3, 20, 9, 5, 9]]), [5, 3, 15, 6], 90, 0, "a small red heart pointing up"),
                new CocoAnnotation(2, 1, 3, CocoSegmentation.FromRle(rle, compressed: false), [5, 3, 15, 6], 90, 1),
                new CocoAnnotation(3, 1, 3, CocoSegmentation.FromRle(rle, compressed: true), [5, 3, 15, 6], 90, 0),
                new CocoAnnotation(4, 2, 3, CocoSegmentation.FromRle(rle, compressed: true), [5, 3, 15, 6], 90, 0),
            ],
            [new CocoCategory(3, "heart", "shape")]);
        Coco.Write(d["inst.json"], data);
        var text = File.ReadAllText(d["inst.json"]);
        Assert.Contains("\"counts\":[", text);
        Assert.Contains($"\"counts\":\"{rle.ToCompressedString()}\"", text);
        var skips = new SkipCounter();
        var back = Coco.Read(d["inst.json"], d["img"], skips);
        Assert.Single(back.Images);
        Assert.Equal(3, back.Annotations.Count);
        Assert.Equal(1, skips["unreadable image"]);
        Assert.Equal(1, skips["unknown image"]);
        Assert.Equal("a small red heart pointing up", back.Annotations[0].Caption);
        Assert.False(back.Annotations[1].Segmentation.Compressed);
        Assert.True(back.Annotations[2].Segmentation.Compressed);
        foreach (var a in back.Annotations) Assert.Equal(mask, a.Segmentation.ToMask(32, 32));
        Assert.Equal(data.Categories, back.Categories);
    }

    [Fact]
    public void ImageNetFoldersAndRobustVqaRoundTrip()
    {
        using var d = new TempDir();
        var classes = new[] { new ImageNetClass(0, "n90000000", "circle"), new ImageNetClass(1, "n90000001", "l_shape") };
        ImageNetFolders.WriteClassIndex(d["index.json"], classes);
        Assert.Equal(classes, ImageNetFolders.ReadClassIndex(d["index.json"]));
        Directory.CreateDirectory(d["a/n90000001"]);
        Directory.CreateDirectory(d["a/n99999999"]);
        File.WriteAllBytes(d["a/n90000001/x.jpg"], Png(1));
        File.WriteAllBytes(d["a/n90000001/y.jpeg"], [0, 1]);
        File.WriteAllBytes(d["a/n99999999/z.png"], Png(2, ".png"));
        var skips = new SkipCounter();
        var items = ImageNetFolders.Read(d["a"], classes, skips);
        Assert.Equal([(d["a/n90000001/x.jpg"], "l_shape")], items.Select(i => (i.Path, i.Class.Name)));
        Assert.Equal(1, skips["unknown class"]);
        Assert.Equal(1, skips["unreadable image"]);
        var parts = new Dictionary<string, IReadOnlyList<RobustVqaEntry>> { ["imagenet_a"] = [new("imagenet_a/n90000001/x.jpg", "l_shape", "key")] };
        ImageNetFolders.WriteRobustVqa(d["rvqa.json"], parts);
        Assert.Equal(parts["imagenet_a"], ImageNetFolders.ReadRobustVqa(d["rvqa.json"], new SkipCounter(strict: true))["imagenet_a"]);
    }

    [Fact]
    public void WrittenWorldReadsBackThroughEveryReader()
    {
        using var d = new TempDir();
        var opts = WorldOptions.Tiny;
        var m = WorldWriter.Make(d.Path, opts);
        var strict = new SkipCounter(strict: true);
        var docs = Mmc4.Read(d["mmc4/docs_no_face_shard_0_v3.jsonl"], d["mmc4/images"], strict).ToList();
        Assert.Equal(m.Counts["mmc4_docs"], docs.Count);
        Assert.Equal(m.Counts["mmc4_images"], docs.Sum(x => x.ImagePaths.Count));
        Assert.All(docs, x => Assert.InRange(x.Document.ImageInfo.Count, 2, 4));
        var pairs = WebDataset.ReadDirectory(d["laion"], strict).ToList();
        Assert.Equal(opts.Counts.CaptionPairs, pairs.Count);
        using (var img = ImageFiles.Decode(pairs[0].Jpg, "pair"))
        {
            Assert.Equal(opts.ImageSize, img.Width);
            using var t = ImageFiles.ToTensor(img);
            Assert.Equal(new long[] { 3, opts.ImageSize, opts.ImageSize }, t.shape);
            Assert.InRange(t.min().item<float>(), 0f, 1f);
        }
        var llava = Llava.Read(d["llava/world_instruct.json"], d["llava"], strict);
        Assert.Equal(opts.Counts.VqaImages, llava.Count);
        Assert.All(llava, it => Assert.StartsWith("<image>\n", it.Conversations[0].Value));
        var coco = Coco.Read(d["coco/annotations/instances_region.json"], d["coco/region"], strict);
        Assert.Equal(opts.Counts.RegionImages, coco.Images.Count);
        Assert.Equal(13, coco.Categories.Count);
        // Masks decoded from the file equal the renderer's masks (RLE exactly; polygons nearly).
        var plan = WorldPlan.Build(opts);
        foreach (var im in coco.Images)
        {
            using var r = SceneRenderer.Render(plan.Regions[(int)im.Id - 1].Scene, opts.ImageSize);
            var anns = coco.Annotations.Where(a => a.ImageId == im.Id).ToList();
            Assert.Equal(r.Masks.Count(mk => mk.Any(b => b == 1)), anns.Count);
            for (int k = 0; k < anns.Count; k++)
            {
                var decoded = anns[k].Segmentation.ToMask(im.Height, im.Width);
                int diff = decoded.Zip(r.Masks[k]).Count(p => p.First != p.Second);
                if (anns[k].Segmentation.Rle is not null) Assert.Equal(0, diff);
                else Assert.True(diff <= 0.15 * anns[k].Area + 8, $"polygon differs in {diff} of {anns[k].Area} pixels");
                Assert.Equal(r.Masks[k].Count(b => b == 1), anns[k].Area);
            }
        }
        var classes = ImageNetFolders.ReadClassIndex(d["robust/imagenet_class_index.json"]);
        foreach (var part in new[] { "imagenet_a", "imagenet_r", "imagenet_v2" })
        {
            var items = ImageNetFolders.Read(d[$"robust/{part}"], classes, strict);
            Assert.Equal(opts.Counts.TestImagesPerSplit, items.Count);
            Assert.Equal(13, items.Select(i => i.Class.Wnid).Distinct().Count());
        }
        var rvqa = ImageNetFolders.ReadRobustVqa(d["robust/robustvqa_test.json"], strict);
        Assert.All(rvqa.Values.SelectMany(v => v), e => Assert.True(File.Exists(d[$"robust/{e.FileName}"])));
        Assert.Equal(0, strict.Total);
    }
}
