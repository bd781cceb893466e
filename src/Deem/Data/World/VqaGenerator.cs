using Deem.Text;
using static Deem.Data.World.WorldVocabulary;

namespace Deem.Data.World;

/// <summary>The kind of perception a question tests (paper §1: orientation, quantity, colour, structure;
/// plus position, POPE-style existence, and RobustVQA-style main-object yes/no).</summary>
public enum VqaKind { Colour, Count, Shape, Orientation, Position, Exists, MainObject, ExistsObject }

/// <summary>One question with its one-word (or two-word position) answer.</summary>
public sealed record VqaItem(VqaKind Kind, string Question, string Answer);

/// <summary>
/// Question–answer pairs about a scene, answerable from the pixels alone. Existence questions are
/// balanced yes/no, and the "no" ones are adversarial in the POPE sense: an absent object that shares
/// the shape or the colour of a present one (reference §6.2).
/// </summary>
public static class VqaGenerator
{
    /// <summary>Up to <paramref name="count"/> questions of distinct kinds (in random order).</summary>
    public static List<VqaItem> Sample(WorldRng rng, Scene scene, int count)
    {
        var kinds = Enum.GetValues<VqaKind>().ToList();
        rng.Shuffle(kinds);
        var items = new List<VqaItem>();
        foreach (var k in kinds)
        {
            if (items.Count >= count) break;
            if (Make(rng, scene, k) is { } item) items.Add(item);
        }
        return items;
    }

    /// <summary>A question of kind <paramref name="kind"/>, or null if the scene has none (e.g. no asymmetric shape).</summary>
    public static VqaItem? Make(WorldRng rng, Scene scene, VqaKind kind)
    {
        var objs = scene.Objects;
        int i = rng.Next(objs.Count);
        var o = objs[i];
        switch (kind)
        {
            case VqaKind.Colour:
                return new(kind, $"what colour is {SceneText.Refer(scene, i, useColour: false)}?", o.Colour);
            case VqaKind.Count:
                if (rng.Chance(0.5))
                    return new(kind, $"how many {Plural(o.Shape)} are there?", NumberWords[objs.Count(x => x.Shape == o.Shape)]);
                return new(kind, $"how many {o.Colour} {Plural(o.Shape)} are there?",
                    NumberWords[objs.Count(x => x.Shape == o.Shape && x.Colour == o.Colour)]);
            case VqaKind.Shape:
                return new(kind, $"what shape is {SceneText.Where(o.Cell)}?", Name(o.Shape));
            case VqaKind.Orientation:
            {
                var asym = Enumerable.Range(0, objs.Count).Where(j => IsAsymmetric(objs[j].Shape)).ToList();
                if (asym.Count == 0) return null;
                int j = rng.Pick(asym);
                return new(kind, $"which way does {SceneText.Refer(scene, j)} point?", Word(objs[j].Orientation));
            }
            case VqaKind.Position:
            {
                var unique = Enumerable.Range(0, objs.Count)
                    .Where(j => objs.Count(x => x.Shape == objs[j].Shape && x.Colour == objs[j].Colour) == 1).ToList();
                if (unique.Count == 0) return null;
                int j = rng.Pick(unique);
                return new(kind, $"where is the {objs[j].Colour} {Name(objs[j].Shape)}?", CellWords[objs[j].Cell]);
            }
            case VqaKind.MainObject:
            {
                // The benchmark's own phrasing (reference §6.1, typo included): a scene has a main
                // object when exactly one object is large. "no" uses a small object's shape when there
                // is one (a hard negative), else any other shape.
                var large = objs.Where(x => x.Size == SizeClass.Large).ToList();
                if (large.Count != 1) return null;
                var main = large[0].Shape;
                if (rng.Chance(0.5)) return new(kind, PromptTemplates.RobustVqaQuestion(Name(main)), "yes");
                var small = objs.Where(x => x.Shape != main).Select(x => x.Shape).Distinct().ToList();
                var other = small.Count > 0 && rng.Chance(0.5) ? rng.Pick(small) : rng.Pick(Shapes.Where(x => x != main).ToList());
                return new(kind, PromptTemplates.RobustVqaQuestion(Name(other)), "no");
            }
            case VqaKind.ExistsObject:
            {
                // POPE's phrasing: "Is there a {object} in the image?" + " Please anwser yes or no".
                if (rng.Chance(0.5)) return new(kind, PromptTemplates.PopeQuestion($"Is there a {Name(o.Shape)} in the image?"), "yes");
                var absent = Shapes.Where(x => objs.All(y => y.Shape != x)).ToList();
                if (absent.Count == 0) return null;
                return new(kind, PromptTemplates.PopeQuestion($"Is there a {Name(rng.Pick(absent))} in the image?"), "no");
            }
            case VqaKind.Exists:
                if (rng.Chance(0.5)) return new(kind, $"is there {Article(o.Colour)} {o.Colour} {Name(o.Shape)}?", "yes");
                for (int attempt = 0; attempt < 20; attempt++)
                {
                    // Same shape in another colour, or same colour on another shape.
                    var (shape, colour) = rng.Chance(0.5)
                        ? (o.Shape, rng.Pick(Colours).Name)
                        : (rng.Pick(Shapes), o.Colour);
                    if (objs.Any(x => x.Shape == shape && x.Colour == colour)) continue;
                    return new(kind, $"is there {Article(colour)} {colour} {Name(shape)}?", "no");
                }
                return null;
        }
        return null;
    }

    static string Article(string w) => SceneText.Article(w);
}
