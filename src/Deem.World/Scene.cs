namespace Deem.World;

/// <summary>
/// One object of a scene: shape class, colour, size, grid cell, orientation and the small
/// continuous perturbations (position offset, scale, hue shift) that the V split adds.
/// </summary>
/// <param name="Shape">Shape class.</param>
/// <param name="Colour">Colour name from <see cref="WorldVocabulary.Colours"/>.</param>
/// <param name="Size">Small or large.</param>
/// <param name="Orientation">Pointing direction (<c>None</c> for symmetric shapes).</param>
/// <param name="Cell">Grid cell 0..8, row-major over a 3×3 grid (see <see cref="WorldVocabulary.CellWords"/>).</param>
/// <param name="OffsetX">Offset of the centre in cell widths.</param>
/// <param name="OffsetY">Offset of the centre in cell heights.</param>
/// <param name="Scale">Multiplier on the size class's radius.</param>
/// <param name="HueShift">Hue rotation in degrees applied to the colour when drawn.</param>
public sealed record WorldObject(
    ShapeKind Shape, string Colour, SizeClass Size, int Cell, Orientation Orientation,
    float OffsetX = 0f, float OffsetY = 0f, float Scale = 1f, float HueShift = 0f)
{
    /// <summary>Attributes that the text describes (everything but the continuous jitter).</summary>
    public string Key => $"{WorldVocabulary.Name(Shape)}|{Colour}|{WorldVocabulary.Word(Size)}|{Cell}|{WorldVocabulary.Word(Orientation)}";
}

/// <summary>A plain colour, or a vertical linear gradient when <paramref name="To"/> is set.</summary>
public sealed record Background(NamedColour From, NamedColour? To = null)
{
    public string Describe() => To is null ? $"a plain {From.Name} background" : $"a {From.Name} to {To.Name} gradient background";
}

/// <summary>An opaque bar drawn over the objects (A split occlusion), in image fractions.</summary>
public sealed record Occluder(float X, float Y, float W, float H, NamedColour Colour);

/// <summary>
/// A complete scene: what <see cref="SceneRenderer"/> draws and <see cref="SceneText"/> describes.
/// The render is a pure function of this record and the image size; <paramref name="DetailSeed"/>
/// drives the sketch jitter, textures and clutter so they are reproducible too.
/// </summary>
public sealed record Scene(
    Background Background, IReadOnlyList<WorldObject> Objects, RenderStyle Style = RenderStyle.Flat,
    int Clutter = 0, Occluder? Occluder = null, ulong DetailSeed = 0)
{
    /// <summary>Canonical content description (objects sorted, background), used for split disjointness.
    /// Style, clutter, occlusion and jitter are deliberately left out: a test scene must differ in content.</summary>
    public string ContentKey =>
        string.Join(";", Objects.Select(o => o.Key).OrderBy(k => k, StringComparer.Ordinal)) + "#" + Background.Describe();

    public Scene With(IReadOnlyList<WorldObject> objects) => this with { Objects = objects };
}
