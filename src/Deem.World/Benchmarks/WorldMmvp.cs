using Deem.Benchmarks;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Deem.Data.Formats;
using Deem.World;
using Deem.IO;
using static Deem.World.WorldVocabulary;

namespace Deem.World.Benchmarks;

/// <summary>The one attribute in which the two images of a world MMVP pair differ (paper §1: orientation,
/// quantity, colour, structure; plus position).</summary>
public enum MmvpAttribute
{
    /// <summary>An asymmetric shape points another way.</summary>
    Orientation,
    /// <summary>A group of identical objects has another number of members (copies added in free cells).</summary>
    Count,
    /// <summary>An object has another colour.</summary>
    Colour,
    /// <summary>An object sits in another grid cell.</summary>
    Position,
    /// <summary>An object is replaced by its structural twin, the shape that differs from it by one part
    /// (<see cref="WorldMmvp.StructureTwins"/>), keeping colour, size, cell and orientation.</summary>
    Structure,
}

/// <summary>Options of the world's MMVP benchmark (<see cref="WorldMmvp"/>).</summary>
public sealed record WorldMmvpOptions
{
    /// <summary>Seed of every scene and option order.</summary>
    public int Seed { get; init; } = 0;

    /// <summary>Image pairs (the official set has 150 pairs = 300 questions).</summary>
    public int Pairs { get; init; } = 150;

    /// <summary>Square image size in pixels.</summary>
    public int ImageSize { get; init; } = 64;

    public void Validate(string source)
    {
        if (Pairs <= 0) throw new DeemConfigException(source, "pairs", $"must be positive, found {Pairs}");
        if (ImageSize < 16 || ImageSize > 4096) throw new DeemConfigException(source, "image_size", $"must be in [16, 4096], found {ImageSize}");
    }
}

/// <summary>One pair: two scenes that differ only in <paramref name="Attribute"/>, one question whose answer differs.</summary>
/// <param name="Pair">0-based pair number; its questions are MMVP indices 2·Pair + 1 (First) and 2·Pair + 2 (Second).</param>
/// <param name="Attribute">The attribute the two scenes differ in.</param>
/// <param name="First">The scene of the odd index.</param>
/// <param name="Second">The scene of the even index.</param>
/// <param name="Question">The question asked about both images.</param>
/// <param name="Options">"(a) … (b) …"; the two answers in random order.</param>
/// <param name="AnswerFirst">The right answer for <paramref name="First"/> (an option's text).</param>
/// <param name="AnswerSecond">The right answer for <paramref name="Second"/> (≠ AnswerFirst).</param>
/// <param name="CorrectFirst">The option letter that answers the question about <paramref name="First"/>.</param>
/// <param name="CorrectSecond">The option letter that answers it about <paramref name="Second"/> (≠ CorrectFirst).</param>
public sealed record WorldMmvpPair(int Pair, MmvpAttribute Attribute, Scene First, Scene Second, string Question, string Options,
    string AnswerFirst, string AnswerSecond, char CorrectFirst, char CorrectSecond)
{
    /// <summary>Cosine similarity of the two images under the stage-0 CLIP when the pair was mined; null when constructed.</summary>
    public double? ClipSimilarity { get; init; }
}

/// <summary>
/// MMVP on the procedural world (Tong et al., 2024; paper §4; reference §6.3): CLIP-blind-style pairs of
/// images that differ in exactly one attribute (<see cref="MmvpAttribute"/>, cycled over the pairs), each
/// asked the same two-option question whose right answer differs between the two images. The object asked
/// about has a shape no other object in the scene has (nor its twin, for structure), so the question names
/// it by shape alone ("which way does the arrow point?"), or, for structure, by its cell ("what shape is in
/// the center?"). Written in the real layout: <c>Questions.csv</c> (<c>Index,Question,Options,Correct Answer</c>,
/// options "(a) … (b) …", answers "(a)") and <c>MMVP Images/{Index}.jpg</c>, plus <c>pairs.jsonl</c>
/// naming each pair's attribute. Deterministic from the seed: pair p draws from stream (seed, "mmvp", p).
/// </summary>
public static class WorldMmvp
{
    /// <summary>Structural twins: filled disc vs ring (a hole), square vs cross (corners cut away),
    /// triangle vs arrow (a shaft), l-shape vs t-shape (the arm at the end vs across the middle).
    /// Twins share symmetry, so the orientation is kept.</summary>
    public static readonly IReadOnlyList<(ShapeKind A, ShapeKind B)> StructureTwins =
        [(ShapeKind.Circle, ShapeKind.Ring), (ShapeKind.Square, ShapeKind.Cross), (ShapeKind.Triangle, ShapeKind.Arrow), (ShapeKind.LShape, ShapeKind.TShape)];

    /// <summary>The metadata file written beside <c>Questions.csv</c>.</summary>
    public const string PairsFile = "pairs.jsonl";

    /// <summary>The attribute family a pair asks about (structure pairs differ in shape).</summary>
    public static AttributeFamily Family(MmvpAttribute attribute) => attribute switch
    {
        MmvpAttribute.Orientation => AttributeFamily.Orientation,
        MmvpAttribute.Count => AttributeFamily.Count,
        MmvpAttribute.Colour => AttributeFamily.Colour,
        MmvpAttribute.Position => AttributeFamily.Position,
        _ => AttributeFamily.Shape,
    };

    /// <summary>The structural twin of <paramref name="s"/>, or null when it has none.</summary>
    public static ShapeKind? Twin(ShapeKind s)
    {
        foreach (var (a, b) in StructureTwins)
        {
            if (a == s) return b;
            if (b == s) return a;
        }
        return null;
    }

    /// <summary>The pairs, attributes cycling Orientation, Count, Colour, Position, Structure; pairs whose
    /// scenes are in <paramref name="exclude"/> (content keys) are redrawn.</summary>
    public static IReadOnlyList<WorldMmvpPair> Sample(WorldMmvpOptions options, IReadOnlySet<string>? exclude = null)
    {
        options.Validate(nameof(WorldMmvpOptions));
        var kinds = Enum.GetValues<MmvpAttribute>();
        var pairs = new List<WorldMmvpPair>();
        for (int p = 0; p < options.Pairs; p++)
        {
            var rng = WorldRng.For(options.Seed, "mmvp", p);
            for (int tries = 0; ; tries++)
            {
                if (tries > 1000) throw new InvalidOperationException($"no MMVP pair {p} outside the excluded scenes after 1000 draws");
                var pair = MakePair(rng, p, kinds[p % kinds.Length]);
                if (exclude is null || (!exclude.Contains(pair.First.ContentKey) && !exclude.Contains(pair.Second.ContentKey)))
                {
                    pairs.Add(pair);
                    break;
                }
            }
        }
        return pairs;
    }

    /// <summary>A pair differing in <paramref name="attribute"/>.</summary>
    public static WorldMmvpPair MakePair(WorldRng rng, int pair, MmvpAttribute attribute)
    {
        var cells = Enumerable.Range(0, 9).ToList();
        rng.Shuffle(cells);
        var from = rng.Pick(Backgrounds); // the training distribution's backgrounds: 70 % plain, else a gradient
        var background = rng.Chance(0.7) ? new Background(from) : new Background(from, rng.Pick(Backgrounds.Where(b => b != from).ToList()));
        ulong detail = rng.NextUInt();

        ShapeKind shape = attribute switch
        {
            MmvpAttribute.Orientation => rng.Pick(Shapes.Where(IsAsymmetric).ToList()),
            MmvpAttribute.Structure => rng.Pick(StructureTwins.SelectMany(t => new[] { t.A, t.B }).ToList()),
            _ => rng.Pick(Shapes),
        };
        string colour = rng.Chance(SceneSampler.TypicalColourProbability) ? TypicalColour(shape) : rng.Pick(Colours).Name;
        var focus = new WorldObject(shape, colour, SizeClass.Large, cells[0], SceneSampler.RandomOrientation(rng, shape));
        var forbidden = new HashSet<ShapeKind> { shape };
        if (Twin(shape) is { } twin) forbidden.Add(twin);

        // The focus group takes cells[0 .. 3] (count pairs use up to four copies), distractors the next ones.
        int distractors = rng.Next(0, 3);
        var others = new List<WorldObject>();
        for (int k = 0; k < distractors; k++)
        {
            WorldObject o;
            do o = SceneSampler.RandomObject(rng, typicalColourBias: true); while (forbidden.Contains(o.Shape));
            others.Add(o with { Cell = cells[4 + k] });
        }
        Scene Make(IEnumerable<WorldObject> focusGroup) => new(background, focusGroup.Concat(others).ToList(), DetailSeed: detail);

        string name = Name(shape);
        string question, a1, a2;
        Scene s1, s2;
        switch (attribute)
        {
            case MmvpAttribute.Orientation:
            {
                var o2 = rng.Pick(Directions.Where(d => d != focus.Orientation).ToList());
                (s1, s2) = (Make([focus]), Make([focus with { Orientation = o2 }]));
                (question, a1, a2) = ($"which way does the {name} point?", Word(focus.Orientation), Word(o2));
                break;
            }
            case MmvpAttribute.Count:
            {
                int n1 = rng.Next(1, 5), n2 = rng.Next(1, 4);
                if (n2 >= n1) n2++; // uniform over 1 … 4 without n1
                IEnumerable<WorldObject> Copies(int n) => Enumerable.Range(0, n).Select(k => focus with { Cell = cells[k] });
                (s1, s2) = (Make(Copies(n1)), Make(Copies(n2)));
                (question, a1, a2) = ($"how many {Plural(shape)} are there?", NumberWords[n1], NumberWords[n2]);
                break;
            }
            case MmvpAttribute.Colour:
            {
                string c2 = rng.Pick(Colours.Where(c => c.Name != colour).ToList()).Name;
                (s1, s2) = (Make([focus]), Make([focus with { Colour = c2 }]));
                (question, a1, a2) = ($"what colour is the {name}?", colour, c2);
                break;
            }
            case MmvpAttribute.Position:
            {
                int cell2 = cells[rng.Next(1, 4)]; // a cell no distractor uses
                (s1, s2) = (Make([focus]), Make([focus with { Cell = cell2 }]));
                (question, a1, a2) = ($"where is the {name}?", CellWords[focus.Cell], CellWords[cell2]);
                break;
            }
            case MmvpAttribute.Structure:
            {
                var twin2 = Twin(shape)!.Value;
                (s1, s2) = (Make([focus]), Make([focus with { Shape = twin2 }]));
                (question, a1, a2) = ($"what shape is {SceneText.Where(focus.Cell)}?", name, Name(twin2));
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "unknown attribute");
        }
        bool swap = rng.Chance(0.5);
        var (optA, optB) = swap ? (a2, a1) : (a1, a2);
        return new WorldMmvpPair(pair, attribute, s1, s2, question, $"(a) {optA} (b) {optB}", a1, a2, swap ? 'b' : 'a', swap ? 'a' : 'b');
    }

    /// <summary>
    /// Writes the benchmark into <paramref name="outDir"/>: <c>Questions.csv</c>, <c>MMVP Images/{1 … 2n}.jpg</c>
    /// and <c>pairs.jsonl</c>. Same options give byte-identical files.
    /// </summary>
    public static IReadOnlyList<WorldMmvpPair> Make(string outDir, WorldMmvpOptions options, IReadOnlySet<string>? exclude = null) =>
        Write(outDir, options, Sample(options, exclude));

    /// <summary>Writes <paramref name="pairs"/> in the MMVP layout (see <see cref="Make"/>).</summary>
    /// <param name="outDir">The benchmark folder.</param>
    /// <param name="options">Image size (and the rest, unused here).</param>
    /// <param name="pairs">The pairs, written in order.</param>
    /// <param name="omits">The world's caption_omits, for each pair's "clip_seen" (null: the default world's).</param>
    public static IReadOnlyList<WorldMmvpPair> Write(string outDir, WorldMmvpOptions options, IReadOnlyList<WorldMmvpPair> pairs,
        IReadOnlyCollection<AttributeFamily>? omits = null)
    {
        var csv = new StringBuilder("Index,Question,Options,Correct Answer\n");
        var meta = new StringBuilder();
        foreach (var p in pairs)
        {
            int i1 = 2 * p.Pair + 1, i2 = i1 + 1;
            foreach (var (index, scene, letter) in new[] { (i1, p.First, p.CorrectFirst), (i2, p.Second, p.CorrectSecond) })
            {
                using var r = SceneRenderer.Render(scene, options.ImageSize, withMasks: false);
                AtomicFile.WriteAllBytes(Path.Combine(outDir, Mmvp.ImagesFolder, $"{index}.jpg"), ImageFiles.Encode(r.Image, ".jpg"));
                csv.Append(CultureInfo.InvariantCulture, $"{index},{CsvField(p.Question)},{CsvField(p.Options)},({letter})\n");
            }
            meta.Append(new JsonObject
            {
                ["pair"] = p.Pair + 1, ["indices"] = new JsonArray(i1, i2), ["attribute"] = p.Attribute.ToString().ToLowerInvariant(),
                ["question"] = p.Question, ["answers"] = new JsonArray(p.AnswerFirst, p.AnswerSecond),
                ["clip_seen"] = CaptionFamilies.SeenByClip(Family(p.Attribute), omits ?? new WorldOptions().OmittedFamilies()), ["clip_similarity"] = p.ClipSimilarity is double c ? Math.Round(c, 6) : null,
            }.ToJsonString()).Append('\n');
        }
        AtomicFile.WriteAllText(Path.Combine(outDir, Mmvp.QuestionsFile), csv.ToString());
        AtomicFile.WriteAllText(Path.Combine(outDir, PairsFile), meta.ToString());
        return pairs;
    }

    /// <summary>
    /// <see cref="Make"/> with every training-side scene of the world under <paramref name="worldRoot"/> excluded;
    /// with <paramref name="clip"/>, the pairs are mined as CLIP-blind (<see cref="MineClipBlind"/>).
    /// </summary>
    public static IReadOnlyList<WorldMmvpPair> MakeForWorld(string worldRoot, string outDir, WorldMmvpOptions options,
        IZeroShotClassifier? clip = null)
    {
        var world = WorldSource.ReadOptions(worldRoot);
        var exclude = WorldSource.TrainKeys(world);
        var pairs = clip is null ? Sample(options, exclude) : MineClipBlind(options, exclude, clip, Path.Combine(outDir, CandidatesFolder));
        return Write(outDir, options, pairs, world.OmittedFamilies());
    }

    /// <summary>Folder of the rendered candidate pool that <see cref="MineClipBlind"/> embeds.</summary>
    public const string CandidatesFolder = "candidates";

    /// <summary>Candidate minimal pairs drawn per kept pair.</summary>
    public const int CandidatesPerPair = 4;

    /// <summary>
    /// MMVP's CLIP-blind mining on the world: <see cref="CandidatesPerPair"/> × as many minimal pairs as asked
    /// are drawn (<see cref="Sample"/>, other seed stream), their images embedded by <paramref name="clip"/>
    /// (the stage-0 CLIP), and per attribute (an equal share each) the pairs are mined from that pool with
    /// <see cref="ClipBlindPairs.Mine"/>: same question, different answer, highest CLIP similarity first.
    /// Pairs are renumbered in mined order; the options' order is drawn from the pair's own stream.
    /// </summary>
    public static IReadOnlyList<WorldMmvpPair> MineClipBlind(WorldMmvpOptions options, IReadOnlySet<string>? exclude,
        IZeroShotClassifier clip, string scratchDir)
    {
        var pool = Sample(options with { Pairs = options.Pairs * CandidatesPerPair, Seed = options.Seed + 7919 }, exclude);
        var images = pool.SelectMany(p => new[] { (p.Attribute, p.Question, Scene: p.First, Answer: p.AnswerFirst), (p.Attribute, p.Question, Scene: p.Second, Answer: p.AnswerSecond) }).ToList();
        var paths = new List<string>();
        for (int i = 0; i < images.Count; i++)
        {
            using var r = SceneRenderer.Render(images[i].Scene, options.ImageSize, withMasks: false);
            string path = Path.Combine(scratchDir, $"{i}.jpg");
            AtomicFile.WriteAllBytes(path, ImageFiles.Encode(r.Image, ".jpg"));
            paths.Add(path);
        }
        var embeddings = new List<float[]>();
        for (int start = 0; start < paths.Count; start += 64) embeddings.AddRange(clip.EncodeImages(paths.Skip(start).Take(64).ToList()));
        var kinds = Enum.GetValues<MmvpAttribute>();
        var mined = new List<WorldMmvpPair>();
        for (int k = 0; k < kinds.Length; k++)
        {
            int want = options.Pairs / kinds.Length + (k < options.Pairs % kinds.Length ? 1 : 0);
            var idx = Enumerable.Range(0, images.Count).Where(i => images[i].Attribute == kinds[k]).ToList();
            var sim = ClipBlindPairs.CosineMatrix(idx.Select(i => embeddings[i]).ToList());
            foreach (var m in ClipBlindPairs.Mine(sim, idx.Select(i => images[i].Question).ToList(), idx.Select(i => images[i].Answer).ToList(), want))
            {
                var (a, b) = (images[idx[m.First]], images[idx[m.Second]]);
                bool swap = WorldRng.For(options.Seed, "mmvp-mined", mined.Count).Chance(0.5);
                var (optA, optB) = swap ? (b.Answer, a.Answer) : (a.Answer, b.Answer);
                mined.Add(new WorldMmvpPair(mined.Count, kinds[k], a.Scene, b.Scene, a.Question, $"(a) {optA} (b) {optB}",
                    a.Answer, b.Answer, swap ? 'b' : 'a', swap ? 'a' : 'b') { ClipSimilarity = m.Similarity });
            }
        }
        return mined;
    }

    // RFC 4180: quote when the field holds a comma, a quote or a line break.
    static string CsvField(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";
}
