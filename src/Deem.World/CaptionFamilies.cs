using static Deem.World.WorldVocabulary;

namespace Deem.World;

/// <summary>A family of visual attributes that a caption may or may not put into words.</summary>
public enum AttributeFamily { Shape, Colour, Size, Orientation, Count, Position }

/// <summary>
/// The paper's premise built into the world: a contrastive encoder keeps what its captions say and
/// may drop the rest ("non-semantic" details: orientation, quantity, structure). The short captions
/// of the caption pairs — the only text the stage-0 CLIP is trained on — leave out the families in
/// <see cref="WorldOptions.CaptionOmits"/> (default orientation and count), while the SFT questions
/// and the benchmarks still ask about them. Short captions never say where an object is, so
/// position is never seen by CLIP either. A question kind is "seen by CLIP" when the captions name
/// every family it asks about.
/// </summary>
public static class CaptionFamilies
{
    /// <summary>The families a short caption can name; position is never named there.</summary>
    public static readonly AttributeFamily[] Captionable =
        [AttributeFamily.Shape, AttributeFamily.Colour, AttributeFamily.Size, AttributeFamily.Orientation, AttributeFamily.Count];

    /// <summary>Parses a <c>caption_omits</c> entry ("orientation", "count"), or throws naming the field.</summary>
    public static AttributeFamily Parse(string name, string source) =>
        name switch
        {
            "orientation" => AttributeFamily.Orientation,
            "count" => AttributeFamily.Count,
            _ => throw new DeemConfigException(source, "caption_omits", $"entries must be 'orientation' or 'count', found '{name}'"),
        };

    /// <summary>The family a question kind asks about (existence and main-object questions ask about shape).</summary>
    public static AttributeFamily Of(VqaKind kind) => kind switch
    {
        VqaKind.Colour => AttributeFamily.Colour,
        VqaKind.Count => AttributeFamily.Count,
        VqaKind.Orientation => AttributeFamily.Orientation,
        VqaKind.Position => AttributeFamily.Position,
        _ => AttributeFamily.Shape,
    };

    /// <summary>Whether captions with <paramref name="omits"/> left out name <paramref name="family"/>.</summary>
    public static bool SeenByClip(AttributeFamily family, IReadOnlyCollection<AttributeFamily> omits) =>
        Captionable.Contains(family) && !omits.Contains(family);

    /// <summary>
    /// The short caption with <paramref name="omits"/> left out. Without count, identical objects are
    /// named once, in the singular ("a red arrow" for two red arrows), so no plural gives the count
    /// away; without orientation, objects that differ only in direction are one phrase and no
    /// "pointing …" is said. With nothing omitted this equals <see cref="SceneText.ShortCaption"/>.
    /// </summary>
    public static string ShortCaption(Scene scene, IReadOnlyCollection<AttributeFamily> omits)
    {
        if (omits.Count == 0) return SceneText.ShortCaption(scene);
        bool noDir = omits.Contains(AttributeFamily.Orientation), noCount = omits.Contains(AttributeFamily.Count);
        var shown = scene.Objects.Select(o => noDir ? o with { Orientation = Orientation.None } : o).ToList();
        var groups = SceneText.Groups(shown);
        return SceneText.JoinAnd(groups.Select(g => SceneText.GroupPhrase(g[0], noCount ? 1 : g.Count)).ToList());
    }

    /// <summary>Whether <paramref name="caption"/> holds a word of <paramref name="family"/> (direction words, number words or plurals).</summary>
    public static bool Mentions(string caption, AttributeFamily family)
    {
        var words = caption.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
        return family switch
        {
            AttributeFamily.Orientation => words.Contains("pointing") || words.Any(w => Directions.Select(Word).Contains(w)),
            AttributeFamily.Count => words.Any(w => NumberWords.Contains(w)) || words.Any(w => Shapes.Select(Plural).Contains(w)),
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "only orientation and count are checked"),
        };
    }
}
