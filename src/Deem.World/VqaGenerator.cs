using Deem.Text;
using static Deem.World.WorldVocabulary;

namespace Deem.World;

/// <summary>The kind of perception a question tests (paper §1: orientation, quantity, colour, structure;
/// plus position, POPE-style existence, and RobustVQA-style main-object yes/no).</summary>
public enum VqaKind { Colour, Count, Shape, Orientation, Position, Exists, MainObject, ExistsObject }

/// <summary>One question with its one-word (or two-word position) answer; in the two-option form the question ends "(a) … (b) …" and the answer is the right option's text.</summary>
public sealed record VqaItem(VqaKind Kind, string Question, string Answer);

/// <summary>
/// Question–answer pairs about a scene, answerable from the pixels alone. Existence questions are
/// balanced yes/no, and the "no" ones are adversarial in the POPE sense: an absent object that shares
/// the shape or the colour of a present one (reference §6.2).
/// </summary>
public static class VqaGenerator
{
    /// <summary>Probability that an open question is asked in the two-option form.</summary>
    public const double TwoOptionProbability = 0.25;

    /// <summary>Probability that another open question ends with the VQA evaluation prompt's one-word instruction.</summary>
    public const double OneWordInstructionProbability = 0.25;

    /// <summary>
    /// Up to <paramref name="count"/> questions of distinct kinds (in random order). An open question
    /// (colour, count, shape, orientation, position) is asked in MMVP's two-option form with
    /// probability <see cref="TwoOptionProbability"/>, else ends with the VQA evaluation prompt's
    /// "Please provide an accurate answer within one word." with probability
    /// <see cref="OneWordInstructionProbability"/>: the SFT data holds the formats the benchmarks ask
    /// in, as LLaVA-1.5's mixture holds those of its benchmarks. Kinds in <paramref name="skip"/> are not asked.
    /// </summary>
    public static List<VqaItem> Sample(WorldRng rng, Scene scene, int count, IReadOnlyCollection<VqaKind>? skip = null)
    {
        var kinds = Enum.GetValues<VqaKind>().Where(k => skip?.Contains(k) != true).ToList();
        rng.Shuffle(kinds);
        var items = new List<VqaItem>();
        foreach (var k in kinds)
        {
            if (items.Count >= count) break;
            if (Make(rng, scene, k) is not { } item) continue;
            bool open = !IsYesNo(item.Kind);
            if (open && rng.Chance(TwoOptionProbability) && TwoOptions(rng, item) is { } options) item = options;
            else if (open && rng.Chance(OneWordInstructionProbability)) item = item with { Question = $"{item.Question} {PromptTemplates.OneWordInstruction}" };
            items.Add(item);
        }
        return items;
    }

    /// <summary>
    /// The yes/no pairs of an SFT item: a POPE-style "Is there a {shape} in the image?" for one present and one
    /// absent shape (the same wording is "yes" on some images and "no" on others, so only the pixels tell), and,
    /// when exactly one object is large, the main-object question for it ("yes") and for another shape ("no",
    /// a small object's shape when there is one), with the class names the RobustVQA benchmark asks ("l_shape").
    /// Balanced by construction: as many "yes" as "no" — and so the second answer of a pair follows from the first.
    /// </summary>
    public static List<VqaItem> YesNoPairs(WorldRng rng, Scene scene)
    {
        var objs = scene.Objects;
        var present = objs.Select(o => o.Shape).Distinct().ToList();
        var absent = Shapes.Where(x => !present.Contains(x)).ToList();
        var items = new List<VqaItem>
        {
            new(VqaKind.ExistsObject, PopeWording(Name(rng.Pick(present))), "yes"),
            new(VqaKind.ExistsObject, PopeWording(Name(rng.Pick(absent))), "no"),
        };
        var large = objs.Where(x => x.Size == SizeClass.Large).ToList();
        if (large.Count == 1)
        {
            var main = large[0].Shape;
            var other = NotTheMainObject(rng, objs, main);
            items.Add(new(VqaKind.MainObject, PromptTemplates.RobustVqaQuestion(ClassName(main)), "yes"));
            items.Add(new(VqaKind.MainObject, PromptTemplates.RobustVqaQuestion(ClassName(other)), "no"));
        }
        return items;
    }

    /// <summary>
    /// The benchmark-style yes/no questions of an SFT item: POPE's "Is there a {shape} in the image?" about two
    /// distinct shapes, and, when exactly one object is large, RobustVQA's main-object question (with the class
    /// names the benchmark asks, "l_shape"). Every answer is its own fair coin: "yes" asks about a present shape
    /// (the main object), "no" about an absent one (another shape, a small object's when there is one, a hard
    /// negative). A "yes" that the scene cannot give (no second distinct present shape) drops that question.
    /// Independent answers leave no answer to infer from another (in <see cref="YesNoPairs"/> the second answer of
    /// a pair follows from the first without the pixels; docs/experiments.md §2.8).
    /// </summary>
    public static List<VqaItem> YesNoQuestions(WorldRng rng, Scene scene)
    {
        var objs = scene.Objects;
        var present = objs.Select(o => o.Shape).Distinct().ToList();
        var absent = Shapes.Where(x => !present.Contains(x)).ToList();
        var items = new List<VqaItem>();
        for (int q = 0; q < 2; q++)
        {
            bool yes = rng.Chance(0.5);
            var pool = yes ? present : absent;
            if (pool.Count == 0) continue;
            var shape = rng.Pick(pool);
            pool.Remove(shape);
            items.Add(new(VqaKind.ExistsObject, PopeWording(Name(shape)), yes ? "yes" : "no"));
        }
        var large = objs.Where(x => x.Size == SizeClass.Large).ToList();
        if (large.Count == 1)
        {
            var main = large[0].Shape;
            bool yes = rng.Chance(0.5);
            var shape = yes ? main : NotTheMainObject(rng, objs, main);
            items.Add(new(VqaKind.MainObject, PromptTemplates.RobustVqaQuestion(ClassName(shape)), yes ? "yes" : "no"));
        }
        return items;
    }

    /// <summary>
    /// The questions of one LLaVA item, by <paramref name="mix"/>: <see cref="YesNoMix.Mixed"/>, <see cref="Sample"/>'s
    /// <paramref name="count"/> questions of every kind; <see cref="YesNoMix.Pairs"/>, <see cref="Sample"/>'s open
    /// questions (without the POPE-style and main-object kinds) and <see cref="YesNoPairs"/>, all in random order;
    /// <see cref="YesNoMix.First"/>, <see cref="YesNoQuestions"/> first (in random order), then the open questions, so no
    /// yes/no answer about presence can be read off an earlier turn ("how many squares are there?" tells that a square
    /// is present); the benchmarks ask them as a conversation's first turn too.
    /// </summary>
    public static List<VqaItem> ForItem(WorldRng rng, Scene scene, int count, YesNoMix mix)
    {
        if (mix == YesNoMix.Mixed) return Sample(rng, scene, count);
        var open = Sample(rng, scene, count, [VqaKind.ExistsObject, VqaKind.MainObject]);
        if (mix == YesNoMix.Pairs)
        {
            open.AddRange(YesNoPairs(rng, scene));
            rng.Shuffle(open);
            return open;
        }
        var yesNo = YesNoQuestions(rng, scene);
        rng.Shuffle(yesNo);
        return [.. yesNo, .. open];
    }

    /// <summary>Whether questions of this kind are answered yes or no (existence, main object).</summary>
    public static bool IsYesNo(VqaKind kind) => kind is VqaKind.Exists or VqaKind.MainObject or VqaKind.ExistsObject;

    /// <summary>
    /// The item as "{question} (a) {x} (b) {y}" with a wrong answer of the same kind in random order,
    /// answered with the right option's text (which the MMVP option parser maps to its letter); null
    /// for yes/no kinds.
    /// </summary>
    public static VqaItem? TwoOptions(WorldRng rng, VqaItem item)
    {
        IEnumerable<string>? pool = item.Kind switch
        {
            VqaKind.Colour => Colours.Select(c => c.Name),
            VqaKind.Count => NumberWords.Skip(1),
            VqaKind.Shape => Shapes.Select(Name),
            VqaKind.Orientation => Directions.Select(Word),
            VqaKind.Position => CellWords,
            _ => null,
        };
        var wrong = pool?.Where(x => x != item.Answer).ToList();
        if (wrong is null || wrong.Count == 0) return null;
        string other = rng.Pick(wrong);
        var (a, b) = rng.Chance(0.5) ? (item.Answer, other) : (other, item.Answer);
        return item with { Question = $"{item.Question} (a) {a} (b) {b}" };
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
                // The benchmark's own phrasing and class names (reference §6.1, typo included): a scene has a main
                // object when exactly one object is large. "no" uses a small object's shape when there
                // is one (a hard negative), else any other shape.
                var large = objs.Where(x => x.Size == SizeClass.Large).ToList();
                if (large.Count != 1) return null;
                var main = large[0].Shape;
                if (rng.Chance(0.5)) return new(kind, PromptTemplates.RobustVqaQuestion(ClassName(main)), "yes");
                return new(kind, PromptTemplates.RobustVqaQuestion(ClassName(NotTheMainObject(rng, objs, main))), "no");
            }
            case VqaKind.ExistsObject:
            {
                // POPE's phrasing: "Is there a {object} in the image?" + " Please anwser yes or no".
                if (rng.Chance(0.5)) return new(kind, PopeWording(Name(o.Shape)), "yes");
                var absent = Shapes.Where(x => objs.All(y => y.Shape != x)).ToList();
                if (absent.Count == 0) return null;
                return new(kind, PopeWording(Name(rng.Pick(absent))), "no");
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

    /// <summary>The shape of a "no" main-object question: a small object's shape half the time when there is one (a hard
    /// negative), else any shape but the main one.</summary>
    static ShapeKind NotTheMainObject(WorldRng rng, IReadOnlyList<WorldObject> objs, ShapeKind main)
    {
        var small = objs.Where(x => x.Shape != main).Select(x => x.Shape).Distinct().ToList();
        return small.Count > 0 && rng.Chance(0.5) ? rng.Pick(small) : rng.Pick(Shapes.Where(x => x != main).ToList());
    }

    static string Article(string w) => SceneText.Article(w);

    /// <summary>POPE's question as its files and prompt have it: "Is there a(n) {object} in the image? Please anwser yes or no".</summary>
    public static string PopeWording(string objectName) =>
        PromptTemplates.PopeQuestion($"Is there {Article(objectName)} {objectName} in the image?");
}
