using SkiaSharp;

namespace Deem.World;

/// <summary>A rendered scene: RGBA pixels plus one visible-pixel mask per object (row-major, 0/1).</summary>
public sealed class RenderedScene : IDisposable
{
    public RenderedScene(SKBitmap image, byte[][] masks) { Image = image; Masks = masks; }
    public SKBitmap Image { get; }
    /// <summary>Masks[i][y * W + x] = 1 where object i is visible (coverage ≥ 50 %, not hidden by a later object or the occluder).</summary>
    public byte[][] Masks { get; }
    public int Size => Image.Width;
    public void Dispose() => Image.Dispose();
}

/// <summary>
/// Draws a <see cref="Scene"/> anti-aliased with SkiaSharp at any square size, and computes the
/// per-object region masks that the mask-text stage uses (paper §2.1, mask-aware extractor; reference §5.3).
/// Objects sit on a 3×3 grid; a large object's radius is 0.42 of a cell, a small one's 0.25.
/// </summary>
public static class SceneRenderer
{
    public const int Grid = 3;

    /// <summary>Renders the scene; masks are computed only when <paramref name="withMasks"/>.</summary>
    public static RenderedScene Render(Scene scene, int size, bool withMasks = true)
    {
        if (size < 8) throw new ArgumentOutOfRangeException(nameof(size), size, "image size must be at least 8 pixels");
        var bmp = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bmp))
        {
            DrawBackground(canvas, scene.Background, size);
            if (scene.Clutter > 0) DrawClutter(canvas, scene, size);
            for (int i = 0; i < scene.Objects.Count; i++) DrawObject(canvas, scene, i, size, coverage: false);
            if (scene.Occluder is { } occ) canvas.DrawRect(OccluderRect(occ, size), new SKPaint { Color = occ.Colour.ToSk(), IsAntialias = true });
        }
        var masks = withMasks ? ComputeMasks(scene, size) : [];
        return new RenderedScene(bmp, masks);
    }

    static byte[][] ComputeMasks(Scene scene, int size)
    {
        int n = scene.Objects.Count;
        var cover = new byte[n][];
        for (int i = 0; i < n; i++) cover[i] = Coverage(size, c => DrawObject(c, scene, i, size, coverage: true));
        byte[]? occ = scene.Occluder is { } o
            ? Coverage(size, c => c.DrawRect(OccluderRect(o, size), new SKPaint { Color = SKColors.White, IsAntialias = true }))
            : null;
        var masks = new byte[n][];
        for (int i = 0; i < n; i++)
        {
            var m = new byte[size * size];
            for (int p = 0; p < m.Length; p++)
            {
                if (cover[i][p] < 128) continue;
                bool hidden = occ is not null && occ[p] >= 128;
                for (int j = i + 1; j < n && !hidden; j++) hidden = cover[j][p] >= 128;
                if (!hidden) m[p] = 1;
            }
            masks[i] = m;
        }
        return masks;
    }

    /// <summary>Alpha coverage of whatever <paramref name="draw"/> paints, one byte per pixel.</summary>
    static byte[] Coverage(int size, Action<SKCanvas> draw)
    {
        using var a8 = new SKBitmap(new SKImageInfo(size, size, SKColorType.Alpha8, SKAlphaType.Premul));
        using (var c = new SKCanvas(a8)) { c.Clear(SKColors.Transparent); draw(c); }
        var bytes = new byte[size * size];
        var span = a8.GetPixelSpan();
        int stride = a8.RowBytes;
        for (int y = 0; y < size; y++) span.Slice(y * stride, size).CopyTo(bytes.AsSpan(y * size, size));
        return bytes;
    }

    static SKRect OccluderRect(Occluder o, int size) => SKRect.Create(o.X * size, o.Y * size, o.W * size, o.H * size);

    static void DrawBackground(SKCanvas canvas, Background bg, int size)
    {
        if (bg.To is null) { canvas.Clear(bg.From.ToSk()); return; }
        using var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(0, size),
            [bg.From.ToSk(), bg.To.ToSk()], SKShaderTileMode.Clamp);
        using var paint = new SKPaint { Shader = shader };
        canvas.DrawRect(0, 0, size, size, paint);
    }

    /// <summary>A split clutter: thin random lines and dots behind the objects.</summary>
    static void DrawClutter(SKCanvas canvas, Scene scene, int size)
    {
        var rng = new WorldRng(scene.DetailSeed, 0xC1);
        using var paint = new SKPaint { IsAntialias = true, StrokeWidth = Math.Max(1f, size / 64f), Style = SKPaintStyle.Stroke };
        for (int k = 0; k < scene.Clutter; k++)
        {
            paint.Color = rng.Pick(WorldVocabulary.Colours).ToSk().WithAlpha(200);
            float x = rng.Uniform(0, size), y = rng.Uniform(0, size);
            if (rng.Chance(0.5))
                canvas.DrawLine(x, y, x + rng.Uniform(-size / 4f, size / 4f), y + rng.Uniform(-size / 4f, size / 4f), paint);
            else
                canvas.DrawCircle(x, y, rng.Uniform(0.5f, 2f) * size / 64f, paint);
        }
    }

    /// <summary>The object's outline in pixel coordinates.</summary>
    public static SKPath ObjectPath(WorldObject o, int size)
    {
        float cell = size / (float)Grid;
        float cx = (o.Cell % Grid + 0.5f + o.OffsetX) * cell, cy = (o.Cell / Grid + 0.5f + o.OffsetY) * cell;
        float r = (o.Size == SizeClass.Large ? 0.42f : 0.25f) * cell * o.Scale;
        var path = ShapeGeometry.Build(o.Shape, o.Orientation);
        path.Transform(SKMatrix.CreateScale(r, r).PostConcat(SKMatrix.CreateTranslation(cx, cy)));
        return path;
    }

    /// <summary>The colour an object is actually painted with (its named colour, hue-shifted).</summary>
    public static SKColor PaintColour(WorldObject o)
    {
        var c = WorldVocabulary.Colour(o.Colour).ToSk();
        if (o.HueShift == 0f) return c;
        c.ToHsv(out float h, out float s, out float v);
        return SKColor.FromHsv(((h + o.HueShift) % 360f + 360f) % 360f, s, v);
    }

    static void DrawObject(SKCanvas canvas, Scene scene, int index, int size, bool coverage)
    {
        var o = scene.Objects[index];
        using var path = ObjectPath(o, size);
        var colour = coverage ? SKColors.White : PaintColour(o);
        float r = path.Bounds.Width / 2f;
        using var paint = new SKPaint { IsAntialias = true, Color = colour };
        switch (scene.Style)
        {
            case RenderStyle.Flat:
                canvas.DrawPath(path, paint);
                break;
            case RenderStyle.Outline:
                paint.Style = SKPaintStyle.Stroke;
                paint.StrokeWidth = Math.Max(1.2f, r * 0.16f);
                canvas.DrawPath(path, paint);
                break;
            case RenderStyle.Sketch:
                paint.Style = SKPaintStyle.Stroke;
                paint.StrokeWidth = Math.Max(0.8f, r * 0.08f);
                paint.StrokeCap = SKStrokeCap.Round;
                var rng = new WorldRng(scene.DetailSeed, 0x5C00UL + (ulong)index);
                for (int stroke = 0; stroke < 3; stroke++)
                    canvas.DrawPath(Jittered(path, rng, Math.Max(0.6f, r * 0.08f)), paint);
                break;
            case RenderStyle.Texture:
                if (!coverage)
                {
                    var light = colour.WithAlpha(255);
                    light.ToHsv(out float h, out float s, out float v);
                    var tint = SKColor.FromHsv(h, s * 0.35f, Math.Min(100f, v + 30f));
                    float period = Math.Max(2f, r * 0.35f);
                    paint.Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(period, period),
                        [colour, colour, tint, tint], [0f, 0.5f, 0.5f, 1f], SKShaderTileMode.Repeat);
                }
                canvas.DrawPath(path, paint);
                break;
            case RenderStyle.Cartoon:
                canvas.DrawPath(path, paint);
                using (var ink = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = Math.Max(1.5f, r * 0.22f),
                                               Color = coverage ? SKColors.White : SKColors.Black, StrokeJoin = SKStrokeJoin.Round })
                    canvas.DrawPath(path, ink);
                if (!coverage)
                {
                    var b = path.Bounds;
                    canvas.DrawCircle(b.MidX - r * 0.3f, b.MidY - r * 0.3f, Math.Max(0.8f, r * 0.12f),
                        new SKPaint { IsAntialias = true, Color = new SKColor(255, 255, 255, 200) });
                }
                break;
        }
    }

    /// <summary>The outline resampled every ~1.5 px with each point moved by up to <paramref name="amount"/> px.</summary>
    static SKPath Jittered(SKPath path, WorldRng rng, float amount)
    {
        var result = new SKPath();
        using var measure = new SKPathMeasure(path, forceClosed: true);
        do
        {
            float len = measure.Length;
            int steps = Math.Max(6, (int)(len / 1.5f));
            for (int k = 0; k <= steps; k++)
            {
                measure.GetPosition(len * k / steps, out var p);
                var q = new SKPoint(p.X + rng.Uniform(-amount, amount), p.Y + rng.Uniform(-amount, amount));
                if (k == 0) result.MoveTo(q); else result.LineTo(q);
            }
        } while (measure.NextContour());
        return result;
    }
}
