namespace Deem.World;

/// <summary>The world's data splits. Train-side splits share one distribution (with built-in
/// shape–colour correlations); A, R and V mirror ImageNet-A/R/V of RobustVQA (paper §3, reference §6.1);
/// InDistribution is the same main-object test drawn from the training distribution, held out.</summary>
public enum WorldSplit { Train, A, R, V, InDistribution }

/// <summary>
/// Draws random <see cref="Scene"/>s. The training distribution: 1–4 flat-coloured objects on a
/// light plain or gradient background, grouped in runs of identical objects (so counts occur), and a
/// strong shape→colour correlation (<see cref="WorldVocabulary.TypicalColour"/>, 80 %).
/// Test splits (one main large object of a known class, for the ImageNet-style folders):
/// A = natural-adversarial: colour contradicting the correlation, clutter, occlusion, unusual backgrounds;
/// R = renditions in styles never seen in training (outline, sketch, texture, cartoon);
/// V = training distribution re-drawn with small jitter in size, position and hue;
/// InDistribution = the training distribution itself (held-out scenes), the reference the shifts are measured against.
/// </summary>
public static class SceneSampler
{
    public const double TypicalColourProbability = 0.8;

    /// <summary>A training scene of 1–4 objects.</summary>
    public static Scene Train(WorldRng rng)
    {
        int n = Weighted(rng, [0.3, 0.3, 0.22, 0.18]) + 1;
        var cells = Enumerable.Range(0, 9).ToList();
        rng.Shuffle(cells);
        var objects = new List<WorldObject>();
        while (objects.Count < n)
        {
            int left = n - objects.Count;
            int count = left == 1 || rng.Chance(0.6) ? 1 : rng.Next(2, Math.Min(3, left) + 1);
            var proto = RandomObject(rng, typicalColourBias: true);
            for (int k = 0; k < count; k++) objects.Add(proto with { Cell = cells[objects.Count] });
        }
        return new Scene(TrainBackground(rng), objects, DetailSeed: rng.NextUInt());
    }

    /// <summary>A test-split scene whose main (first, large) object has class <paramref name="cls"/>.</summary>
    public static Scene Test(WorldRng rng, WorldSplit split, ShapeKind cls)
    {
        var objects = new List<WorldObject>();
        var cells = Enumerable.Range(0, 9).ToList();
        rng.Shuffle(cells);
        int mainCell = rng.Chance(0.5) ? 4 : cells[0];
        cells.Remove(mainCell);
        string colour = split == WorldSplit.A
            ? rng.Pick(WorldVocabulary.Colours.Where(c => c.Name != WorldVocabulary.TypicalColour(cls)).ToList()).Name
            : CorrelatedColour(rng, cls);
        objects.Add(new WorldObject(cls, colour, SizeClass.Large, mainCell, RandomOrientation(rng, cls)));
        int extras = rng.Next(0, 3);
        for (int k = 0; k < extras; k++)
        {
            var o = RandomObject(rng, typicalColourBias: split != WorldSplit.A) with { Size = SizeClass.Small, Cell = cells[k] };
            objects.Add(o);
        }
        var bg = TrainBackground(rng);
        var style = RenderStyle.Flat;
        int clutter = 0;
        Occluder? occluder = null;
        switch (split)
        {
            case WorldSplit.A:
                if (rng.Chance(0.5)) bg = new Background(rng.Pick(WorldVocabulary.UnusualBackgrounds),
                    rng.Chance(0.5) ? rng.Pick(WorldVocabulary.UnusualBackgrounds) : null);
                clutter = rng.Next(6, 16);
                if (rng.Chance(0.5))
                {
                    // A bar covering at most about a third of the main object's cell.
                    float cx = (mainCell % 3 + 0.5f) / 3f, cy = (mainCell / 3 + 0.5f) / 3f;
                    bool vertical = rng.Chance(0.5);
                    float w = vertical ? 0.06f : 0.34f, h = vertical ? 0.34f : 0.06f;
                    occluder = new Occluder(cx - w / 2 + rng.Uniform(-0.08f, 0.08f), cy - h / 2 + rng.Uniform(-0.08f, 0.08f),
                        w, h, rng.Pick(WorldVocabulary.Colours));
                }
                break;
            case WorldSplit.R:
                style = (RenderStyle)rng.Next(1, 5);
                break;
            case WorldSplit.V:
                for (int i = 0; i < objects.Count; i++)
                    objects[i] = objects[i] with
                    {
                        OffsetX = rng.Uniform(-0.08f, 0.08f), OffsetY = rng.Uniform(-0.08f, 0.08f),
                        Scale = rng.Uniform(0.88f, 1.12f), HueShift = rng.Uniform(-10f, 10f),
                    };
                break;
            case WorldSplit.InDistribution:
                break;
            case WorldSplit.Train:
                throw new ArgumentException("use Train(rng) for the training distribution", nameof(split));
        }
        return new Scene(bg, objects, style, clutter, occluder, rng.NextUInt());
    }

    /// <summary>A fresh object with random attributes; cell 0 (the caller places it).</summary>
    public static WorldObject RandomObject(WorldRng rng, bool typicalColourBias)
    {
        var shape = rng.Pick(WorldVocabulary.Shapes);
        string colour = typicalColourBias ? CorrelatedColour(rng, shape) : rng.Pick(WorldVocabulary.Colours).Name;
        var size = rng.Chance(0.5) ? SizeClass.Small : SizeClass.Large;
        return new WorldObject(shape, colour, size, 0, RandomOrientation(rng, shape));
    }

    public static Orientation RandomOrientation(WorldRng rng, ShapeKind shape) =>
        WorldVocabulary.IsAsymmetric(shape) ? rng.Pick(WorldVocabulary.Directions) : Orientation.None;

    static string CorrelatedColour(WorldRng rng, ShapeKind shape) =>
        rng.Chance(TypicalColourProbability) ? WorldVocabulary.TypicalColour(shape) : rng.Pick(WorldVocabulary.Colours).Name;

    static Background TrainBackground(WorldRng rng)
    {
        var from = rng.Pick(WorldVocabulary.Backgrounds);
        if (rng.Chance(0.7)) return new Background(from);
        var to = rng.Pick(WorldVocabulary.Backgrounds.Where(b => b != from).ToList());
        return new Background(from, to);
    }

    static int Weighted(WorldRng rng, double[] weights)
    {
        double u = rng.NextDouble() * weights.Sum();
        for (int i = 0; i < weights.Length; i++) { if (u < weights[i]) return i; u -= weights[i]; }
        return weights.Length - 1;
    }
}
