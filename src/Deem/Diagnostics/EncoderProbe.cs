using System.Text.RegularExpressions;
using Deem.Benchmarks;
using Deem.Data.Formats;
using Deem.Inference;
using Deem.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Diagnostics;

/// <summary>Settings of <see cref="EncoderProbe"/>.</summary>
/// <param name="TrainImages">Instruction images (the first N of the file) whose questions train the probes.</param>
/// <param name="TestImages">Instruction images (the last N of the file) the probes are scored on.</param>
/// <param name="Steps">Full-batch AdamW steps per probe.</param>
/// <param name="LearningRate">AdamW rate (weight decay 0.01).</param>
/// <param name="Hidden">Widths of the probe's hidden layer: 0 is a linear probe, H &gt; 0 one GELU layer of H.</param>
/// <param name="Seed">Seed of the probes' initial weights (their own generator; the global RNG is not touched).</param>
public sealed record EncoderProbeOptions(int TrainImages = 3000, int TestImages = 1000, int Steps = 600, double LearningRate = 1e-3,
    IReadOnlyList<int>? Hidden = null, int Seed = 0)
{
    /// <summary>The hidden widths, <c>[0, 256]</c> unless given.</summary>
    public IReadOnlyList<int> Widths => Hidden ?? [0, 256];

    /// <summary>
    /// Throws <see cref="DeemConfigException"/> naming the setting as <c>deem eval probe</c> spells it; with
    /// <paramref name="items"/> also when the training and test images need more instruction items than
    /// <paramref name="itemsSource"/> holds.
    /// </summary>
    public void Validate(int? items = null, string itemsSource = "the instruction items")
    {
        foreach (var (value, option) in new[] { (TrainImages, "--train-images"), (TestImages, "--test-images"), (Steps, "--steps") })
            if (value < 1) throw new DeemConfigException(option, option.TrimStart('-'), $"must be ≥ 1, found {value}");
        if (Widths.Count == 0 || Widths.Any(w => w < 0))
            throw new DeemConfigException("--hidden", "hidden", $"must list widths ≥ 0 (0 = linear), found [{string.Join(", ", Widths)}]");
        if (items is int n && TrainImages + TestImages > n)
            throw new DeemConfigException("--train-images", "train-images", $"{TrainImages} + --test-images {TestImages} exceed the {n} instruction images of {itemsSource}");
    }
}

/// <summary>A closed question about one object: its family, the object and the answer.</summary>
public sealed record ProbeQuestion(int Image, string Family, string Object, string Answer);

/// <summary>One probe: which features, its head, one question family and its accuracies.</summary>
/// <param name="Features">"encoder tokens" (CLS + grid, flattened), "encoder mean" (mean over tokens) or "rows into the LLM".</param>
/// <param name="Dim">Feature width.</param>
/// <param name="Hidden">0 = linear, else the hidden width.</param>
/// <param name="Family">Question family (<see cref="EncoderProbe.Families"/>).</param>
/// <param name="TrainAccuracy">Accuracy on the training questions.</param>
/// <param name="TestAccuracy">Accuracy on the held-out images' questions.</param>
/// <param name="Pope">Accuracy per POPE split (presence only, when a POPE folder is given).</param>
public sealed record EncoderProbeRow(string Features, int Dim, int Hidden, string Family, double TrainAccuracy, double TestAccuracy,
    IReadOnlyDictionary<string, double> Pope)
{
    /// <summary>Train − held-out accuracy above which a probe is said to overfit its training questions.</summary>
    public const double OverfitGap = 0.10;

    /// <summary>
    /// The probe fits its training questions far better than the held-out ones (gap &gt; <see cref="OverfitGap"/>):
    /// its held-out accuracy is then limited by how few questions trained it, not only by the features, and is a
    /// lower bound of what they hold (more training images raise it).
    /// </summary>
    public bool Overfits => TrainAccuracy - TestAccuracy > OverfitGap;
}

/// <summary>Per family: questions and the blind baseline (each object's most frequent training answer).</summary>
public sealed record ProbeFamilyStats(string Family, int TrainQuestions, int TestQuestions, double BlindAccuracy);

/// <summary>Everything a probe run measured; <paramref name="PopeQuestions"/> counts the POPE questions scored per split
/// (those about an object the presence questions name).</summary>
public sealed record EncoderProbeReport(IReadOnlyList<EncoderProbeRow> Rows, IReadOnlyList<ProbeFamilyStats> Families,
    IReadOnlyDictionary<string, int> PopeQuestions);

/// <summary>
/// What the frozen image features hold, family by family: a probe per question family (one softmax over
/// the answers per object) on the features of an image, trained on the closed questions of a LLaVA
/// instruction file's first images and scored on its last ones (and, for presence, on a POPE folder). It
/// bounds what the LLM can read from the same features, separates "the encoder lost it" from "the LLM did
/// not learn to read it", and compares encoders on what their training named (presence, the main object)
/// and what it never named (orientation, count) — the linear-probe methodology of CLIP (Radford et al.
/// 2021, §3.2) applied to the world's questions.
/// </summary>
public static partial class EncoderProbe
{
    /// <summary>The kinds of features probed, in the order <see cref="Features"/> returns them.</summary>
    public static readonly IReadOnlyList<string> FeatureKinds = ["encoder tokens", "encoder mean", "rows into the LLM"];

    /// <summary>The question families, in report order.</summary>
    public static readonly IReadOnlyList<string> Families = ["presence", "main object", "orientation", "count"];

    [GeneratedRegex(@"^Is there an? (.+) in the image\?$")] private static partial Regex Presence();
    [GeneratedRegex(@"^Is (.+) the main object in this image\?$")] private static partial Regex MainObject();
    [GeneratedRegex(@"^which way does the (.+) point\?$")] private static partial Regex Orientation();
    [GeneratedRegex(@"^how many (\S+) are there\?$")] private static partial Regex Count();

    /// <summary>
    /// The family and object of a question, or null for other questions. The image marker, the
    /// benchmarks' instructions ("Please anwser yes or no", "Please provide an accurate answer within one
    /// word.") and multiple-choice options ("(a) … (b) …") are removed first.
    /// </summary>
    public static (string Family, string Object)? Parse(string question)
    {
        string q = question.Replace(Llava.ImageMarker, "").Trim();
        foreach (string suffix in new[] { " Please anwser yes or no", " Please provide an accurate answer within one word." })
            if (q.EndsWith(suffix, StringComparison.Ordinal)) q = q[..^suffix.Length];
        int options = q.IndexOf(" (a) ", StringComparison.Ordinal);
        if (options >= 0) q = q[..options];
        q = q.Trim();
        foreach (var (family, rx) in new[] { ("presence", Presence()), ("main object", MainObject()), ("orientation", Orientation()), ("count", Count()) })
            if (rx.Match(q) is { Success: true } m) return (family, m.Groups[1].Value);
        return null;
    }

    /// <summary>The closed questions of <paramref name="items"/>, with image indices into the list.</summary>
    public static List<ProbeQuestion> Questions(IReadOnlyList<LlavaItem> items)
    {
        var list = new List<ProbeQuestion>();
        for (int i = 0; i < items.Count; i++)
        {
            var turns = items[i].Conversations;
            for (int t = 0; t + 1 < turns.Count; t += 2)
                if (Parse(turns[t].Value) is { } p)
                    list.Add(new ProbeQuestion(i, p.Family, p.Object, Normalise(turns[t + 1].Value)));
        }
        return list;
    }

    static string Normalise(string answer) => answer.Trim().TrimEnd('.').ToLowerInvariant();

    /// <summary>
    /// Runs the probes on <paramref name="items"/> (first <see cref="EncoderProbeOptions.TrainImages"/> train,
    /// last <see cref="EncoderProbeOptions.TestImages"/> test); with <paramref name="popeFolder"/>
    /// (<c>coco_pope_{split}.json</c> + <paramref name="popeImages"/>) the presence probes are also scored on POPE.
    /// </summary>
    public static EncoderProbeReport Run(DeemModel model, IReadOnlyList<LlavaItem> items, EncoderProbeOptions options, int resolution,
        string? popeFolder = null, string? popeImages = null)
    {
        options.Validate(items.Count);

        // 1. Questions of the training and the held-out images (image indices into each part).
        var trainItems = items.Take(options.TrainImages).ToList();
        var testItems = items.Skip(items.Count - options.TestImages).ToList();
        var train = Questions(trainItems);
        var test = Questions(testItems);

        // 2. POPE questions about objects the presence probe has a column for.
        var popeImageIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var pope = new Dictionary<string, List<ProbeQuestion>>();
        if (popeFolder is not null)
        {
            foreach (string split in Pope.Splits)
            {
                string file = Path.Combine(popeFolder, Pope.FileName(split));
                if (!File.Exists(file)) continue;
                var list = pope[split] = [];
                foreach (var q in Pope.Load(file))
                {
                    if (Parse(q.Text) is not ("presence", var obj)) continue;
                    string path = Path.Combine(popeImages ?? popeFolder, q.Image);
                    if (!popeImageIndex.TryGetValue(path, out int i)) popeImageIndex[path] = i = popeImageIndex.Count;
                    list.Add(new ProbeQuestion(i, "presence", obj, Normalise(q.Label)));
                }
            }
            if (pope.Count == 0) throw new DeemFormatException(popeFolder, "no coco_pope_{random,popular,adversarial}.json");
        }

        // 3. Features of every image, once, with the model in eval mode.
        using var scope = NewDisposeScope();
        var trainX = Features(model, trainItems.Select(i => i.ImagePath).ToList(), resolution);
        var testX = Features(model, testItems.Select(i => i.ImagePath).ToList(), resolution);
        var popeX = pope.Count > 0 ? Features(model, popeImageIndex.Keys.ToList(), resolution) : null;

        // 4. Every kind of features standardised once, with the training images' per-feature mean and deviation.
        var standard = new (Tensor Train, Tensor Test, Tensor? Pope)[FeatureKinds.Count];
        for (int k = 0; k < FeatureKinds.Count; k++)
        {
            var mu = trainX[k].mean([0], keepdim: true);                                           // [1, D]
            var sd = trainX[k].std([0], keepdim: true).add(1e-5);                                  // [1, D]
            Tensor Std(Tensor x) => x.sub(mu).div(sd);
            standard[k] = (Std(trainX[k]), Std(testX[k]), popeX is null ? null : Std(popeX[k]));
        }

        // 5. Per family: its objects and answers, the blind baseline, then one probe per (features, head).
        var rows = new List<EncoderProbeRow>();
        var stats = new List<ProbeFamilyStats>();
        var popeScored = new Dictionary<string, int>();
        foreach (string family in Families)
        {
            var tr = train.Where(q => q.Family == family).ToList();
            var te = test.Where(q => q.Family == family).ToList();
            if (tr.Count == 0 || te.Count == 0) continue;
            var layout = new FamilyLayout(tr);
            te = te.Where(layout.Knows).ToList();
            var popeHere = family == "presence" ? pope.ToDictionary(kv => kv.Key, kv => kv.Value.Where(layout.Knows).ToList()) : [];
            foreach (var (split, list) in popeHere) popeScored[split] = list.Count;
            stats.Add(new ProbeFamilyStats(family, tr.Count, te.Count, te.Count == 0 ? double.NaN : te.Average(q => layout.Blind(q) == q.Answer ? 1.0 : 0.0)));
            if (te.Count == 0) continue;
            for (int k = 0; k < FeatureKinds.Count; k++)
            {
                var (xTrain, xTest, xPope) = standard[k];
                foreach (int hidden in options.Widths)
                {
                    var probe = Fit(xTrain, tr, layout, hidden, options);
                    rows.Add(new EncoderProbeRow(FeatureKinds[k], (int)xTrain.shape[1], hidden, family, Accuracy(probe, xTrain, tr, layout),
                        Accuracy(probe, xTest, te, layout),
                        popeHere.ToDictionary(kv => kv.Key, kv => Accuracy(probe, xPope!, kv.Value, layout))));
                }
            }
        }
        return new EncoderProbeReport(rows, stats, popeScored);
    }

    /// <summary>A family's objects and answers (from its training questions), the answers each object takes, and its blind answer.</summary>
    sealed class FamilyLayout
    {
        readonly Dictionary<string, int> objects = new(StringComparer.Ordinal);
        readonly Dictionary<string, int> answers = new(StringComparer.Ordinal);
        readonly Dictionary<string, string> blind = new(StringComparer.Ordinal);
        readonly HashSet<(int, int)> seen = [];

        public FamilyLayout(List<ProbeQuestion> train)
        {
            foreach (var q in train)
            {
                if (!objects.ContainsKey(q.Object)) objects[q.Object] = objects.Count;
                if (!answers.ContainsKey(q.Answer)) answers[q.Answer] = answers.Count;
                seen.Add((objects[q.Object], answers[q.Answer]));
            }
            foreach (var g in train.GroupBy(q => q.Object))
                blind[g.Key] = g.GroupBy(q => q.Answer).OrderByDescending(a => a.Count()).ThenBy(a => a.Key, StringComparer.Ordinal).First().Key;
        }

        public int Objects => objects.Count;
        public int Answers => answers.Count;
        public bool Knows(ProbeQuestion q) => objects.ContainsKey(q.Object) && answers.ContainsKey(q.Answer);
        public string Blind(ProbeQuestion q) => blind[q.Object];
        public long Object(ProbeQuestion q) => objects[q.Object];
        public long Answer(ProbeQuestion q) => answers[q.Answer];

        /// <summary>[O, A]: 0 where an object took that answer in training, −∞ elsewhere.</summary>
        public Tensor Mask()
        {
            var m = full(Objects, Answers, float.NegativeInfinity);
            foreach (var (o, a) in seen) m[o, a] = 0f;
            return m;
        }
    }

    /// <summary>
    /// [N, D] features of each of <see cref="FeatureKinds"/>: encoder tokens flattened, their mean, the LLM rows
    /// flattened; the images seen as the benchmarks' inference sees them (<see cref="ImageInputs"/>).
    /// </summary>
    static Tensor[] Features(DeemModel model, IReadOnlyList<string> paths, int resolution)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            var kinds = new List<Tensor>[] { [], [], [] };
            const int chunk = 64;
            for (int start = 0; start < paths.Count; start += chunk)
            {
                using var scope = NewDisposeScope();
                var images = stack(paths.Skip(start).Take(chunk)
                    .Select(p => ImageInputs.ToEncoderView(ImageInputs.Read(p), resolution)).ToArray());        // [n, 3, R, R]
                var vis = model.VisualTokenizer.forward(new VisualTokenizerInput(images.to(model.Device)));
                var tokens = vis.EncoderTokens.to(float32).cpu();                                            // [n, 1+hw, C]
                kinds[0].Add(tokens.flatten(1).MoveToOuterDisposeScope());                                    // [n, (1+hw)·C]
                kinds[1].Add(tokens.mean([1]).MoveToOuterDisposeScope());                                     // [n, C]
                kinds[2].Add(model.ImageRows(vis).to(float32).cpu().flatten(1).MoveToOuterDisposeScope());   // [n, N·D]
            }
            return kinds.Select(k => cat(k.ToArray(), 0).MoveToOuterDisposeScope()).ToArray();
        }
        finally { model.train(wasTraining); }
    }

    sealed record Probe(Parameter[] Weights, int Hidden, int Objects, int Answers, Tensor Mask)
    {
        /// <summary>Logits [Q, A] of questions about objects <paramref name="obj"/> [Q] on features x [Q, D], masked to each object's answers.</summary>
        public Tensor Logits(Tensor x, Tensor obj)
        {
            var h = Hidden == 0 ? x : nn.functional.gelu(x.matmul(Weights[^4]).add(Weights[^3]));       // [Q, H]
            var all = h.matmul(Weights[^2]).add(Weights[^1]).view(-1, Objects, Answers);                  // [Q, O, A]
            var rows = all.gather(1, obj.view(-1, 1, 1).expand(-1, 1, Answers)).squeeze(1);               // [Q, A]
            return rows.add(Mask.index_select(0, obj));                                                   // [Q, A]
        }
    }

    static Probe Fit(Tensor x, List<ProbeQuestion> questions, FamilyLayout layout, int hidden, EncoderProbeOptions options)
    {
        var g = new Generator((ulong)options.Seed);
        long d = x.shape[1];
        int outputs = layout.Objects * layout.Answers;
        Parameter Init(long fanIn, long fanOut) => new(randn(fanIn, fanOut, generator: g).div(Math.Sqrt(fanIn)));  // [fanIn, fanOut]
        Parameter Zero(long n) => new(zeros(n));
        Parameter[] w = hidden == 0
            ? [Init(d, outputs), Zero(outputs)]
            : [Init(d, hidden), Zero(hidden), Init(hidden, outputs), Zero(outputs)];
        var probe = new Probe(w, hidden, layout.Objects, layout.Answers, layout.Mask());
        var (image, obj, answer) = Columns(questions, layout);
        var xq = x.index_select(0, image);                                                                 // [Q, D]
        var optimiser = optim.AdamW(w, options.LearningRate, weight_decay: 0.01);
        for (int step = 0; step < options.Steps; step++)
        {
            using var scope = NewDisposeScope();
            optimiser.zero_grad();
            nn.functional.cross_entropy(probe.Logits(xq, obj), answer).backward();
            optimiser.step();
        }
        return probe;
    }

    static double Accuracy(Probe probe, Tensor x, List<ProbeQuestion> questions, FamilyLayout layout)
    {
        if (questions.Count == 0) return double.NaN;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (image, obj, answer) = Columns(questions, layout);
        var predicted = probe.Logits(x.index_select(0, image), obj).argmax(1);                            // [Q]
        return predicted.eq(answer).to(float32).mean().item<float>();
    }

    static (Tensor Image, Tensor Object, Tensor Answer) Columns(List<ProbeQuestion> questions, FamilyLayout layout) =>
        (tensor(questions.Select(q => (long)q.Image).ToArray()), tensor(questions.Select(layout.Object).ToArray()),
         tensor(questions.Select(layout.Answer).ToArray()));
}
