using Deem.Text;
using System.Text;
using Deem.Config;
using Deem.Data.Formats;
using SkiaSharp;

namespace Deem.Diagnostics.Fuzz;

/// <summary>
/// MMC4 JSONL documents through <see cref="Mmc4.Read"/>, lenient and strict. Oracle for an accepted file:
/// the strict read equals the lenient one, and writing the documents back and reading them again gives the
/// same documents.
/// </summary>
public sealed class JsonlFuzzTarget : FuzzTarget
{
    public override string Name => "jsonl";
    public override IReadOnlyList<byte[]> Seeds { get; }

    public JsonlFuzzTarget()
    {
        using (var bmp = new SKBitmap(4, 3)) File.WriteAllBytes(Path.Combine(Scratch, "img0.jpg"), ImageFiles.Encode(bmp, ".jpg"));
        Mmc4Document Doc(int i) => new(["A red square.", $"It sits on the left {i}.", "caf\u00e9 \u2019s"],
            [new Mmc4ImageInfo("img0", i % 3, 0.25 + i, $"http://example.com/{i}.png")], [[0.1, 0.2 * i, 0.3]]);
        byte[] Lines(params int[] ids) => ids.SelectMany(i => Mmc4.ToJsonLine(Doc(i)).Concat("\n"u8.ToArray())).ToArray();
        Seeds = [Lines(0), Lines(1, 2), Lines(0, 1, 2, 3)];
    }

    public override bool Check(byte[] input)
    {
        string path = Path.Combine(Scratch, "docs.jsonl"), back = Path.Combine(Scratch, "back.jsonl");
        File.WriteAllBytes(path, input);
        var lenient = Mmc4.Read(path, Scratch, new SkipCounter()).ToList();
        var strict = Mmc4.Read(path, Scratch, new SkipCounter(strict: true)).ToList();
        if (!Same(lenient, strict)) return false;
        File.WriteAllBytes(back, strict.SelectMany(r => Mmc4.ToJsonLine(r.Document).Concat("\n"u8.ToArray())).ToArray());
        return Same(strict, Mmc4.Read(back, Scratch, new SkipCounter(strict: true)).ToList());
    }

    static bool Same(List<Mmc4Record> a, List<Mmc4Record> b) =>
        a.Count == b.Count && a.Zip(b).All(p => Encoding.UTF8.GetString(Mmc4.ToJsonLine(p.First.Document)) == Encoding.UTF8.GetString(Mmc4.ToJsonLine(p.Second.Document)));
}

/// <summary>
/// PNG and JPEG bytes through <see cref="ImageFiles.Decode(byte[], string, ImageLimits?)"/> and <see cref="ImageFiles.ToTensor"/>.
/// Oracle for an accepted image: encoding the decoded pixels as PNG and decoding again gives the same pixels.
/// </summary>
public sealed class ImageFuzzTarget : FuzzTarget
{
    public override string Name => "image";
    public override IReadOnlyList<byte[]> Seeds { get; }

    public ImageFuzzTarget()
    {
        byte[] Make(int w, int h, string ext)
        {
            using var bmp = new SKBitmap(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) bmp.SetPixel(x, y, new SKColor((byte)(x * 37), (byte)(y * 51), (byte)(x * y * 7), 255));
            return ImageFiles.Encode(bmp, ext);
        }
        Seeds = [Make(8, 6, ".png"), Make(5, 9, ".jpg"), Make(16, 16, ".png")];
    }

    public override bool Check(byte[] input)
    {
        using var bmp = ImageFiles.Decode(input, "fuzz-image");
        using var tensor = ImageFiles.ToTensor(bmp);
        byte[] rgb = ImageFiles.Rgb(bmp);
        using var again = ImageFiles.Decode(ImageFiles.Encode(bmp, ".png"), "fuzz-image-png");
        return again.Width == bmp.Width && again.Height == bmp.Height && ImageFiles.Rgb(again).AsSpan().SequenceEqual(rgb)
            && tensor.shape.SequenceEqual(new long[] { 3, bmp.Height, bmp.Width });
    }
}

/// <summary>
/// <c>deem_config.json</c> through <see cref="DeemConfig.Load"/>. Oracle for an accepted file: saving the
/// loaded config and loading it again gives the same JSON.
/// </summary>
public sealed class ConfigFuzzTarget : FuzzTarget
{
    public override string Name => "config";
    public override IReadOnlyList<byte[]> Seeds { get; } =
        [Encoding.UTF8.GetBytes(ConfigJson.ToJson(DeemConfig.TinyFor(SpecialTokens.Tiny))), Encoding.UTF8.GetBytes(ConfigJson.ToJson(DeemConfig.Paper7B))];

    public override bool Check(byte[] input)
    {
        string path = Path.Combine(Scratch, "deem_config.json"), back = Path.Combine(Scratch, "back.json");
        File.WriteAllBytes(path, input);
        var config = DeemConfig.Load(path);
        config.Save(back);
        return ConfigJson.ToJson(DeemConfig.Load(back)) == ConfigJson.ToJson(config);
    }
}
