using Deem.Plotting;
using SkiaSharp;

namespace Deem.Tests.Plotting;

public class ImageGridTests
{
    static string SolidPng(string path, SKColor color, int size = 16)
    {
        using var bitmap = new SKBitmap(size, size);
        bitmap.Erase(color);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void GridHasOneTilePerRowInColumnsWithItsFrameAndImage()
    {
        using var dir = new TempDir();
        string blue = SolidPng(dir["blue.png"], SKColors.Blue);
        var green = new SKColor(0, 200, 0);
        var red = new SKColor(200, 0, 0);
        var tiles = Enumerable.Range(0, 6).Select(i => new GridTile(blue,
            [new GridLine($"tile {i}", SKColors.Black, Bold: true), new GridLine("a question long enough to wrap over more than one line of the tile", SKColors.Black)],
            i % 2 == 0 ? green : red)).ToList();
        var o = new ImageGridOptions { Columns = 4, TileWidth = 120, ImageSize = 64, TextLines = 3, Padding = 4, Frame = 2 };

        string png = dir["out/grid.png"];
        ImageGrid.Write(png, tiles, o);
        using var image = SKBitmap.Decode(png);
        var (w, h) = ImageGrid.SizeOf(6, o);
        Assert.Equal((4 + 4 * (120 + 4), 4 + 2 * (o.TileHeight + 4)), (w, h));
        Assert.Equal((w, h), (image.Width, image.Height));
        Assert.Single(Directory.GetFiles(dir["out"]));                        // no temp file left

        for (int i = 0; i < 6; i++)
        {
            int x = 4 + i % 4 * 124, y = 4 + i / 4 * (o.TileHeight + 4);
            Assert.Equal(i % 2 == 0 ? green : red, image.GetPixel(x, y + o.TileHeight / 2));              // frame, left edge
            Assert.Equal(SKColors.Blue, image.GetPixel(x + 60, y + o.Frame + o.Padding + 32));            // the image, scaled to 64
        }
        // The last row has two tiles: where the third would be is background.
        Assert.NotEqual(green, image.GetPixel(4 + 2 * 124, 4 + o.TileHeight + 4 + o.TileHeight / 2));
    }

    [Fact]
    public void WrapKeepsEveryWordAndFitsTheWidth()
    {
        using var font = new SKFont(SKTypeface.Default, 13);
        string text = "Is there an arrow in the image? Please answer with one word";
        var lines = ImageGrid.Wrap(text, font, 90);
        Assert.Equal(text, string.Join(" ", lines));
        Assert.All(lines, l => Assert.True(font.MeasureText(l) <= 90 || !l.Contains(' '), l));
        // One line exactly when it all fits (a machine without fonts measures every text as 0 wide).
        Assert.Equal(font.MeasureText(text) <= 90, lines.Count == 1);
    }

    [Fact]
    public void NoTilesOrAnUnreadableImageAreClearErrors()
    {
        using var dir = new TempDir();
        Assert.Throws<DeemConfigException>(() => ImageGrid.Png([]));
        File.WriteAllText(dir["bad.png"], "not an image");
        var e = Assert.Throws<DeemFormatException>(() => ImageGrid.Png([new GridTile(dir["bad.png"], [], SKColors.Red)]));
        Assert.Contains("bad.png", e.Message);
        Assert.Throws<DeemConfigException>(() => new ImageGridOptions { TileWidth = 50, ImageSize = 64 }.Validate());
    }
}
