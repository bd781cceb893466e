using SkiaSharp;

namespace Deem.World;

/// <summary>
/// Outlines of the world's shape classes as <see cref="SKPath"/>s in the unit box [-1, 1]² (y down,
/// as in Skia). Every shape is built "pointing up" and rotated by a multiple of 90° for the other
/// orientations; for the asymmetric classes the four rotations are all different, which is what
/// makes orientation a detail the image encoder must keep (paper §1, "orientation").
/// Pointing means: arrow/triangle/house/crescent horns/heart tip/key bit/l-shape long arm/t-shape bar.
/// </summary>
public static class ShapeGeometry
{
    /// <summary>The outline of <paramref name="shape"/> turned to <paramref name="orientation"/>.</summary>
    public static SKPath Build(ShapeKind shape, Orientation orientation)
    {
        var path = Canonical(shape);
        float degrees = orientation switch
        {
            Orientation.Right => 90f, Orientation.Down => 180f, Orientation.Left => 270f, _ => 0f,
        };
        if (degrees != 0f) path.Transform(SKMatrix.CreateRotationDegrees(degrees));
        return path;
    }

    static SKPath Canonical(ShapeKind shape) => shape switch
    {
        ShapeKind.Circle => Circle(0, 0, 0.9f),
        ShapeKind.Square => Poly((-0.8f, -0.8f), (0.8f, -0.8f), (0.8f, 0.8f), (-0.8f, 0.8f)),
        ShapeKind.Ring => Circle(0, 0, 0.9f).Op(Circle(0, 0, 0.5f), SKPathOp.Difference),
        ShapeKind.Cross => Poly((-0.3f, -0.9f), (0.3f, -0.9f), (0.3f, -0.3f), (0.9f, -0.3f), (0.9f, 0.3f),
            (0.3f, 0.3f), (0.3f, 0.9f), (-0.3f, 0.9f), (-0.3f, 0.3f), (-0.9f, 0.3f), (-0.9f, -0.3f), (-0.3f, -0.3f)),
        ShapeKind.Star => Star(),
        ShapeKind.Arrow => Poly((0f, -0.95f), (0.8f, -0.1f), (0.3f, -0.1f), (0.3f, 0.95f), (-0.3f, 0.95f),
            (-0.3f, -0.1f), (-0.8f, -0.1f)),
        ShapeKind.Triangle => Poly((0f, -0.9f), (0.8f, 0.8f), (-0.8f, 0.8f)),
        ShapeKind.Key => Key(),
        ShapeKind.House => Poly((0f, -0.95f), (0.9f, -0.15f), (0.65f, -0.15f), (0.65f, 0.9f), (-0.65f, 0.9f),
            (-0.65f, -0.15f), (-0.9f, -0.15f)),
        ShapeKind.Crescent => Circle(0, 0.05f, 0.9f).Op(Circle(0, -0.4f, 0.72f), SKPathOp.Difference),
        ShapeKind.Heart => Heart(),
        ShapeKind.LShape => Poly((-0.7f, -0.9f), (-0.2f, -0.9f), (-0.2f, 0.4f), (0.7f, 0.4f), (0.7f, 0.9f), (-0.7f, 0.9f)),
        ShapeKind.TShape => Poly((-0.9f, -0.9f), (0.9f, -0.9f), (0.9f, -0.4f), (0.25f, -0.4f), (0.25f, 0.9f),
            (-0.25f, 0.9f), (-0.25f, -0.4f), (-0.9f, -0.4f)),
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, "unknown shape"),
    };

    static SKPath Circle(float cx, float cy, float r)
    {
        var p = new SKPath();
        p.AddCircle(cx, cy, r);
        return p;
    }

    static SKPath Poly(params (float X, float Y)[] pts)
    {
        var p = new SKPath();
        p.AddPoly(pts.Select(q => new SKPoint(q.X, q.Y)).ToArray(), close: true);
        return p;
    }

    static SKPath Star()
    {
        var pts = new (float, float)[10];
        for (int i = 0; i < 10; i++)
        {
            double a = -Math.PI / 2 + i * Math.PI / 5;
            float r = i % 2 == 0 ? 0.95f : 0.4f;
            pts[i] = ((float)(r * Math.Cos(a)), (float)(r * Math.Sin(a) + 0.08));
        }
        return Poly(pts);
    }

    static SKPath Key()
    {
        // Bow (a ring) at the bottom, shaft upward, two teeth on the right near the top.
        var bow = Circle(0, 0.55f, 0.4f).Op(Circle(0, 0.55f, 0.17f), SKPathOp.Difference);
        var shaft = Poly((-0.12f, -0.95f), (0.12f, -0.95f), (0.12f, 0.2f), (-0.12f, 0.2f));
        var teeth = Poly((0.12f, -0.95f), (0.5f, -0.95f), (0.5f, -0.78f), (0.12f, -0.78f));
        var tooth2 = Poly((0.12f, -0.6f), (0.4f, -0.6f), (0.4f, -0.45f), (0.12f, -0.45f));
        return bow.Op(shaft, SKPathOp.Union).Op(teeth, SKPathOp.Union).Op(tooth2, SKPathOp.Union);
    }

    static SKPath Heart()
    {
        // Built with the tip up (so "pointing up" = tip up, like every other canonical shape).
        var p = new SKPath();
        p.MoveTo(0f, -0.9f);
        p.CubicTo(0.35f, -0.5f, 0.95f, -0.2f, 0.9f, 0.3f);
        p.CubicTo(0.85f, 0.8f, 0.2f, 0.9f, 0f, 0.5f);
        p.CubicTo(-0.2f, 0.9f, -0.85f, 0.8f, -0.9f, 0.3f);
        p.CubicTo(-0.95f, -0.2f, -0.35f, -0.5f, 0f, -0.9f);
        p.Close();
        return p;
    }
}
