using SkiaSharp;

namespace Deem.World;

/// <summary>Shape classes of the world. The asymmetric ones make orientation matter (paper §1: the
/// encoder must keep orientation, quantity, colour and structure details).</summary>
public enum ShapeKind
{
    Circle, Square, Ring, Cross, Star,
    Arrow, Triangle, Key, House, Crescent, Heart, LShape, TShape,
}

/// <summary>Which way an asymmetric shape points; <c>None</c> for symmetric shapes (drawn upright).</summary>
public enum Orientation { None, Up, Right, Down, Left }

/// <summary>Object size class: a fraction of one grid cell.</summary>
public enum SizeClass { Small, Large }

/// <summary>How objects are drawn. Training uses <c>Flat</c> only; the others are the renditions of
/// the R split (ImageNet-R analogue, paper §3 / reference §6.1), styles never seen in training.</summary>
public enum RenderStyle { Flat, Outline, Sketch, Texture, Cartoon }

/// <summary>A named colour with its RGB value.</summary>
public sealed record NamedColour(string Name, byte R, byte G, byte B)
{
    public SKColor ToSk() => new(R, G, B);
}

/// <summary>
/// The closed vocabulary of the procedural world: shape names (singular/plural), colours, sizes,
/// grid-cell position words, orientation words, number words and backgrounds. Every word the
/// generator can emit comes from here or from the fixed sentence frames in <see cref="SceneText"/>,
/// <see cref="VqaGenerator"/> and <see cref="StoryGenerator"/>; the tokenizer's vocabulary is built
/// from <see cref="AllWords"/>.
/// </summary>
public static class WorldVocabulary
{
    public static readonly ShapeKind[] Shapes = Enum.GetValues<ShapeKind>();

    public static bool IsAsymmetric(ShapeKind s) => s >= ShapeKind.Arrow;

    public static string Name(ShapeKind s) => s switch
    {
        ShapeKind.LShape => "l-shape",
        ShapeKind.TShape => "t-shape",
        _ => s.ToString().ToLowerInvariant(),
    };

    public static string Plural(ShapeKind s) => s switch
    {
        ShapeKind.Cross => "crosses",
        _ => Name(s) + "s",
    };

    /// <summary>Class-folder name for the ImageNet-style layout (underscores, as in the Keras index).</summary>
    public static string ClassName(ShapeKind s) => Name(s).Replace('-', '_');

    /// <summary>Object colours (10 names).</summary>
    public static readonly NamedColour[] Colours =
    [
        new("red", 220, 30, 40), new("orange", 245, 140, 20), new("yellow", 240, 210, 20),
        new("green", 40, 160, 60), new("blue", 30, 80, 220), new("purple", 130, 50, 170),
        new("pink", 240, 120, 180), new("brown", 120, 75, 35), new("black", 20, 20, 20),
        new("gray", 128, 128, 128),
    ];

    public static NamedColour Colour(string name) => Colours.First(c => c.Name == name);

    /// <summary>The colour each shape mostly has in the training split — the correlation that the
    /// A split contradicts (ImageNet-A analogue: natural adversarial pairings).</summary>
    public static string TypicalColour(ShapeKind s) => s switch
    {
        ShapeKind.Heart => "red",
        ShapeKind.Crescent => "yellow",
        ShapeKind.Star => "yellow",
        ShapeKind.House => "brown",
        ShapeKind.Key => "gray",
        ShapeKind.Arrow => "blue",
        ShapeKind.Ring => "orange",
        ShapeKind.Cross => "green",
        ShapeKind.Triangle => "purple",
        ShapeKind.Circle => "pink",
        ShapeKind.Square => "black",
        ShapeKind.LShape => "green",
        ShapeKind.TShape => "blue",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    /// <summary>Light background colours of the training distribution.</summary>
    public static readonly NamedColour[] Backgrounds =
    [
        new("white", 250, 250, 250), new("cream", 245, 235, 210), new("pale blue", 215, 230, 245),
        new("pale green", 220, 240, 215), new("light gray", 215, 215, 215),
    ];

    /// <summary>Dark or saturated backgrounds used only by the A split ("unusual backgrounds").</summary>
    public static readonly NamedColour[] UnusualBackgrounds =
    [
        new("dark blue", 15, 25, 70), new("dark green", 15, 60, 25), new("maroon", 90, 15, 25),
        new("charcoal", 45, 45, 50),
    ];

    public static string Word(Orientation o) => o switch
    {
        Orientation.Up => "up", Orientation.Right => "right", Orientation.Down => "down",
        Orientation.Left => "left", _ => "",
    };

    public static readonly Orientation[] Directions = [Orientation.Up, Orientation.Right, Orientation.Down, Orientation.Left];

    public static string Word(SizeClass s) => s == SizeClass.Small ? "small" : "large";

    /// <summary>Position words of the 3×3 grid, row-major.</summary>
    public static readonly string[] CellWords =
    [
        "top left", "top middle", "top right",
        "middle left", "center", "middle right",
        "bottom left", "bottom middle", "bottom right",
    ];

    public static readonly string[] NumberWords = ["zero", "one", "two", "three", "four", "five"];

    public static readonly string[] Styles = ["flat", "outline", "sketch", "texture", "cartoon"];

    /// <summary>Fixed words of the sentence frames (captions, stories, questions, answers).</summary>
    public static readonly string[] FrameWords =
    [
        "a", "an", "the", "and", "there", "is", "are", "in", "on", "at", "of", "with", "to", "it", "its",
        "pointing", "background", "plain", "gradient", "from", "image", "picture", "scene", "shows",
        "then", "now", "next", "after", "that", "this", "appears", "disappears", "turns", "point",
        "becomes", "moves", "rotates", "changes", "colour", "color", "what", "which", "way", "does",
        "how", "many", "where", "shape", "yes", "no", "object", "objects", "drawn", "as", "photo",
        "first", "we", "see", "some", "also", "new", "added", "removed", "one", "other", "only",
        "same", "stays", "still", "while", "corner", "middle", "side", "direction", "size",
        "rendition", "style", "main", "nothing", "else", "changed", "painted", "now", "here",
        "these", "those", "each", "all", "both", "them", "they", "by", "be",
    ];

    /// <summary>Every word (and punctuation mark) the generator can emit.</summary>
    public static IEnumerable<string> AllWords()
    {
        foreach (var s in Shapes) { yield return Name(s); yield return Plural(s); yield return ClassName(s); }
        foreach (var c in Colours) yield return c.Name;
        foreach (var b in Backgrounds.Concat(UnusualBackgrounds)) foreach (var w in b.Name.Split(' ')) yield return w;
        foreach (var d in Directions) yield return Word(d);
        yield return "small"; yield return "large";
        foreach (var w in CellWords.SelectMany(c => c.Split(' '))) yield return w;
        foreach (var w in NumberWords) yield return w;
        foreach (var w in Styles) yield return w;
        foreach (var w in FrameWords) yield return w;
    }
}
