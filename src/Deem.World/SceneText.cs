using static Deem.World.WorldVocabulary;

namespace Deem.World;

/// <summary>
/// Text about a scene: short captions in the BLIP-caption register ("two red arrows pointing left
/// and a small blue ring"), detailed captions with positions and background, region descriptions
/// ("a small green key pointing up") and the noun phrases the VQA and story generators reuse.
/// All output is lower-case words from <see cref="WorldVocabulary"/> plus "," and ".".
/// </summary>
public static class SceneText
{
    /// <summary>Identical objects (shape, colour, size, orientation) grouped in order of first appearance.</summary>
    public static List<List<WorldObject>> Groups(IEnumerable<WorldObject> objects)
    {
        var groups = new List<List<WorldObject>>();
        foreach (var o in objects)
        {
            var g = groups.FirstOrDefault(g => Same(g[0], o));
            if (g is null) groups.Add([o]); else g.Add(o);
        }
        return groups;
    }

    static bool Same(WorldObject a, WorldObject b) =>
        a.Shape == b.Shape && a.Colour == b.Colour && a.Size == b.Size && a.Orientation == b.Orientation;

    /// <summary>"a"/"an" by the next word.</summary>
    public static string Article(string next) => "aeiou".Contains(next[0]) ? "an" : "a";

    static string Pointing(WorldObject o) => o.Orientation == Orientation.None ? "" : " pointing " + Word(o.Orientation);

    /// <summary>"{count} [small] {colour} {shape(s)} [pointing {dir}]" — small is said, large is implied.</summary>
    public static string GroupPhrase(WorldObject o, int count, bool sayLarge = false)
    {
        string size = o.Size == SizeClass.Small ? "small " : sayLarge ? "large " : "";
        string noun = count == 1 ? Name(o.Shape) : Plural(o.Shape);
        string rest = $"{size}{o.Colour} {noun}{Pointing(o)}";
        string det = count == 1 ? Article(rest) : NumberWords[count];
        return $"{det} {rest}";
    }

    /// <summary>Short caption: groups joined by commas and a final "and".</summary>
    public static string ShortCaption(Scene scene) =>
        JoinAnd(Groups(scene.Objects).Select(g => GroupPhrase(g[0], g.Count)).ToList());

    /// <summary>Detailed caption: every object with its size and position, then the background.</summary>
    public static string DetailedCaption(Scene scene)
    {
        var parts = scene.Objects.Select(o => $"{GroupPhrase(o, 1, sayLarge: true)} {Where(o.Cell)}").ToList();
        return $"{JoinAnd(parts)}, on {scene.Background.Describe()}.";
    }

    /// <summary>Region description of one object (reference §5.3 short region text).</summary>
    public static string Region(WorldObject o) => GroupPhrase(o, 1, sayLarge: true);

    /// <summary>"in the top left" / "in the center".</summary>
    public static string Where(int cell) => "in the " + CellWords[cell];

    /// <summary>The shortest unambiguous way to name object <paramref name="i"/> of the scene:
    /// "the arrow", "the red arrow", or "the red arrow in the top left". Without
    /// <paramref name="useColour"/> (colour questions must not give the answer away): "the arrow in the top left".</summary>
    public static string Refer(Scene scene, int i, bool useColour = true)
    {
        var o = scene.Objects[i];
        var objs = scene.Objects;
        if (objs.Count(x => x.Shape == o.Shape) == 1) return $"the {Name(o.Shape)}";
        if (!useColour) return $"the {Name(o.Shape)} {Where(o.Cell)}";
        if (objs.Count(x => x.Shape == o.Shape && x.Colour == o.Colour) == 1) return $"the {o.Colour} {Name(o.Shape)}";
        return $"the {o.Colour} {Name(o.Shape)} {Where(o.Cell)}";
    }

    public static string JoinAnd(IReadOnlyList<string> parts) => parts.Count switch
    {
        0 => "",
        1 => parts[0],
        _ => string.Join(", ", parts.Take(parts.Count - 1)) + " and " + parts[^1],
    };
}
