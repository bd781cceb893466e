using static Deem.World.WorldVocabulary;

namespace Deem.World;

/// <summary>An interleaved document: sentences and images, image k matched to sentence <c>Matched[k]</c>.</summary>
public sealed record Story(IReadOnlyList<string> Sentences, IReadOnlyList<Scene> Images, IReadOnlyList<int> Matched);

/// <summary>
/// Interleaved image–text documents in the MMC4 register (reference §5.1) where the next image is
/// predictable from context: the first sentence describes a scene, each following sentence states one
/// change (an object rotates, is added, changes colour, moves or disappears) and is matched to the
/// image after the change — exactly what next-image prediction (paper Eq. 3) needs. Sometimes a
/// closing sentence with no image counts the objects.
/// </summary>
public static class StoryGenerator
{
    enum Change { Rotate, Add, Recolour, Move, Remove }

    public static Story Make(WorldRng rng, int images)
    {
        if (images < 1) throw new ArgumentOutOfRangeException(nameof(images), images, "a story needs at least one image");
        var scene = SceneSampler.Train(rng);
        var sentences = new List<string> { $"there {(scene.Objects.Count == 1 ? "is" : "are")} {SceneText.ShortCaption(scene)} {Positions(scene)}." };
        var scenes = new List<Scene> { scene };
        var matched = new List<int> { 0 };
        int guard = 0;
        while (scenes.Count < images && guard++ < 100)
        {
            var change = (Change)rng.Next(5);
            var (text, next) = Apply(rng, scene, change);
            if (next is null) continue;
            sentences.Add(text);
            scenes.Add(next);
            matched.Add(sentences.Count - 1);
            scene = next;
        }
        if (rng.Chance(0.5))
        {
            int n = scene.Objects.Count;
            sentences.Add(n == 1 ? "now there is one object." : $"now there are {NumberWords[n]} objects.");
        }
        return new Story(sentences, scenes, matched);
    }

    /// <summary>"in the top left, the center and the bottom right" in object order.</summary>
    static string Positions(Scene s) => "in the " + SceneText.JoinAnd(s.Objects.Select(o => CellWords[o.Cell]).ToList());

    static (string Text, Scene? Next) Apply(WorldRng rng, Scene scene, Change change)
    {
        var objs = scene.Objects.ToList();
        int i = rng.Next(objs.Count);
        var o = objs[i];
        string who = SceneText.Refer(scene, i);
        string lead = rng.Pick(["then", "next,", "after that,", "now"]);
        var free = Enumerable.Range(0, 9).Where(c => objs.All(x => x.Cell != c)).ToList();
        switch (change)
        {
            case Change.Rotate:
            {
                if (!IsAsymmetric(o.Shape)) return ("", null);
                var dir = rng.Pick(Directions.Where(d => d != o.Orientation).ToList());
                objs[i] = o with { Orientation = dir };
                return ($"{lead} {who} turns to point {Word(dir)}.", scene.With(objs));
            }
            case Change.Add:
            {
                if (objs.Count >= 4 || free.Count == 0) return ("", null);
                var add = SceneSampler.RandomObject(rng, typicalColourBias: true) with { Cell = rng.Pick(free) };
                objs.Add(add);
                return ($"{lead} {SceneText.GroupPhrase(add, 1)} appears {SceneText.Where(add.Cell)}.", scene.With(objs));
            }
            case Change.Recolour:
            {
                string colour = rng.Pick(Colours.Where(c => c.Name != o.Colour).ToList()).Name;
                objs[i] = o with { Colour = colour };
                return ($"{lead} {who} becomes {colour}.", scene.With(objs));
            }
            case Change.Move:
            {
                if (free.Count == 0) return ("", null);
                int cell = rng.Pick(free);
                objs[i] = o with { Cell = cell };
                return ($"{lead} {who} moves to the {CellWords[cell]}.", scene.With(objs));
            }
            case Change.Remove:
            {
                if (objs.Count <= 1) return ("", null);
                objs.RemoveAt(i);
                return ($"{lead} {who} disappears.", scene.With(objs));
            }
        }
        return ("", null);
    }
}
