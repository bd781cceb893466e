using Deem.IO;
using SkiaSharp;

namespace Deem.Plotting;

/// <summary>One line of a tile's text, in its colour; a line too long for the tile wraps.</summary>
/// <param name="Text">The text.</param>
/// <param name="Color">Its colour.</param>
/// <param name="Bold">Drawn in bold.</param>
public sealed record GridLine(string Text, SKColor Color, bool Bold = false);

/// <summary>One tile: an image file (PNG/JPEG), the lines under it, and the colour of its frame.</summary>
/// <param name="ImagePath">The image file.</param>
/// <param name="Lines">The text under the image, top to bottom.</param>
/// <param name="Frame">The frame's colour.</param>
public sealed record GridTile(string ImagePath, IReadOnlyList<GridLine> Lines, SKColor Frame);

/// <summary>The layout of an <see cref="ImageGrid"/>, in pixels.</summary>
public sealed record ImageGridOptions
{
    public int Columns { get; init; } = 4;
    /// <summary>Width of a tile; the text wraps to it.</summary>
    public int TileWidth { get; init; } = 240;
    /// <summary>Side of the (square) image in a tile; smaller images are scaled up without smoothing.</summary>
    public int ImageSize { get; init; } = 128;
    /// <summary>Text lines under the image (after wrapping); text beyond them ends in "…".</summary>
    public int TextLines { get; init; } = 6;
    public float FontSize { get; init; } = 13;
    public int Padding { get; init; } = 6;
    public int Frame { get; init; } = 3;

    /// <summary>Height of one line of text.</summary>
    public int LineHeight => (int)Math.Ceiling(FontSize * 1.3f);

    /// <summary>Height of a tile: frame, image, text, paddings.</summary>
    public int TileHeight => 2 * Frame + 3 * Padding + ImageSize + TextLines * LineHeight;

    /// <summary>Throws a <see cref="DeemConfigException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        void Positive(string name, double v) { if (!(v > 0)) throw new DeemConfigException("image grid", name, $"must be positive, found {v}"); }
        Positive(nameof(Columns), Columns); Positive(nameof(TileWidth), TileWidth); Positive(nameof(ImageSize), ImageSize);
        Positive(nameof(TextLines), TextLines); Positive(nameof(FontSize), FontSize);
        if (Padding < 0 || Frame < 0) throw new DeemConfigException("image grid", Padding < 0 ? nameof(Padding) : nameof(Frame), "must not be negative");
        if (ImageSize > TileWidth - 2 * Frame - 2 * Padding)
            throw new DeemConfigException("image grid", nameof(ImageSize), $"{ImageSize} does not fit a tile {TileWidth} wide");
    }
}

/// <summary>
/// A grid of image tiles with text under each image (e.g. a question, a model's answer and the truth),
/// drawn with SkiaSharp: <see cref="ImageGridOptions.Columns"/> tiles per row, as many rows as needed.
/// </summary>
public static class ImageGrid
{
    static readonly SKColor Background = new(250, 250, 250), TileBackground = SKColors.White;

    /// <summary>The picture's (width, height) for <paramref name="tiles"/> tiles.</summary>
    public static (int Width, int Height) SizeOf(int tiles, ImageGridOptions o)
    {
        int columns = Math.Min(o.Columns, Math.Max(1, tiles)), rows = Math.Max(1, (tiles + o.Columns - 1) / o.Columns);
        return (o.Padding + columns * (o.TileWidth + o.Padding), o.Padding + rows * (o.TileHeight + o.Padding));
    }

    /// <summary>Draws the tiles and writes the PNG atomically.</summary>
    public static void Write(string png, IReadOnlyList<GridTile> tiles, ImageGridOptions? options = null) =>
        AtomicFile.WriteAllBytes(png, Png(tiles, options));

    /// <summary>Draws the tiles, row by row, as PNG bytes.</summary>
    public static byte[] Png(IReadOnlyList<GridTile> tiles, ImageGridOptions? options = null)
    {
        var o = options ?? new ImageGridOptions();
        o.Validate();
        if (tiles.Count == 0) throw new DeemConfigException("image grid", "tiles", "no tiles to draw");
        var (width, height) = SizeOf(tiles.Count, o);
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(bitmap))
        using (var regular = new SKFont(Typeface(SKFontStyle.Normal), o.FontSize))
        using (var bold = new SKFont(Typeface(SKFontStyle.Bold), o.FontSize))
        {
            canvas.Clear(Background);
            for (int i = 0; i < tiles.Count; i++)
            {
                float x = o.Padding + i % o.Columns * (o.TileWidth + o.Padding), y = o.Padding + i / o.Columns * (o.TileHeight + o.Padding);
                DrawTile(canvas, tiles[i], x, y, o, regular, bold);
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    // A sans-serif face where the machine has one, else Skia's default.
    static SKTypeface Typeface(SKFontStyle style)
    {
        foreach (var family in new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "sans-serif" })
            if (SKFontManager.Default.MatchFamily(family, style) is { } face) return face;
        return SKTypeface.Default;
    }

    static void DrawTile(SKCanvas canvas, GridTile tile, float x, float y, ImageGridOptions o, SKFont regular, SKFont bold)
    {
        using (var frame = new SKPaint { Color = tile.Frame, IsAntialias = false })
            canvas.DrawRect(x, y, o.TileWidth, o.TileHeight, frame);
        using (var inside = new SKPaint { Color = TileBackground })
            canvas.DrawRect(x + o.Frame, y + o.Frame, o.TileWidth - 2 * o.Frame, o.TileHeight - 2 * o.Frame, inside);

        using (var image = SKImage.FromEncodedData(tile.ImagePath)
                           ?? throw new DeemFormatException(tile.ImagePath, "not a readable PNG or JPEG image"))
        {
            float left = x + (o.TileWidth - o.ImageSize) / 2f, top = y + o.Frame + o.Padding;
            canvas.DrawImage(image, SKRect.Create(left, top, o.ImageSize, o.ImageSize), new SKSamplingOptions(SKFilterMode.Nearest));
        }

        float textLeft = x + o.Frame + o.Padding, textWidth = o.TileWidth - 2 * (o.Frame + o.Padding);
        float baseline = y + o.Frame + 2 * o.Padding + o.ImageSize + o.FontSize;
        int used = 0;
        for (int l = 0; l < tile.Lines.Count; l++)
        {
            var line = tile.Lines[l];
            var font = line.Bold ? bold : regular;
            var wrapped = Wrap(line.Text, font, textWidth);
            using var paint = new SKPaint { Color = line.Color, IsAntialias = true };
            for (int k = 0; k < wrapped.Count; k++)
            {
                if (used == o.TextLines) return;
                bool more = k < wrapped.Count - 1 || l < tile.Lines.Count - 1;
                string text = used == o.TextLines - 1 && more ? Ellipsize(wrapped[k], font, textWidth) : wrapped[k];
                canvas.DrawText(text, textLeft, baseline + used * o.LineHeight, SKTextAlign.Left, font, paint);
                used++;
            }
        }
    }

    /// <summary>Greedy word wrap of <paramref name="text"/> to <paramref name="width"/>; a word wider than a line is cut.</summary>
    public static IReadOnlyList<string> Wrap(string text, SKFont font, float width)
    {
        var lines = new List<string>();
        string current = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string joined = current.Length == 0 ? word : current + " " + word;
            if (font.MeasureText(joined) <= width) { current = joined; continue; }
            if (current.Length > 0) lines.Add(current);
            current = word;
            while (current.Length > 1 && font.MeasureText(current) > width)
            {
                int fit = current.Length - 1;
                while (fit > 1 && font.MeasureText(current[..fit]) > width) fit--;
                lines.Add(current[..fit]);
                current = current[fit..];
            }
        }
        if (current.Length > 0 || lines.Count == 0) lines.Add(current);
        return lines;
    }

    static string Ellipsize(string text, SKFont font, float width)
    {
        string s = text;
        while (s.Length > 0 && font.MeasureText(s + "…") > width) s = s[..^1];
        return s + "…";
    }
}
