using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deem.IO;

namespace Deem.Benchmarks;

/// <summary>The ground-truth objects of one image (a line <c>{"image": …, "objects": […]}</c>).</summary>
public sealed record PopeImageObjects(string Image, IReadOnlyList<string> Objects);

/// <summary>How POPE picks the absent objects it asks about.</summary>
public enum PopeStrategy
{
    /// <summary>Uniformly among the categories absent from the image.</summary>
    Random,
    /// <summary>The most frequent categories (over all images) that are absent from the image.</summary>
    Popular,
    /// <summary>The categories that co-occur most often with the asked-about present object, absent from the image.</summary>
    Adversarial,
}

/// <summary>
/// Builds POPE question files from object annotations (Li et al., 2023, the official <c>utils.py</c>
/// <c>pope()</c>; reference §6.2). For each image: up to k present objects (the first k of its list)
/// give "yes" questions; for the i-th of them one absent object is chosen by the strategy and gives a
/// "no" question, so the file is balanced. Category frequency and co-occurrence are counted over the
/// given images; ties are broken by first appearance (Python's stable sort). When a popular/adversarial
/// list runs out, the negative is drawn at random, as in the official code.
/// </summary>
/// <remarks>
/// Differences from the official script, all deliberate: randomness comes from <see cref="SeededRandom"/>
/// (deterministic for a seed, not Python's stream); the article is "an" before a vowel only in the
/// template's " a {}" (the official <c>template.replace("a", "an")</c> also turns "image" into "imange");
/// per image the k "yes" questions come first, then the k "no" ones, as in the published files.
/// </remarks>
public static class PopeBuilder
{
    /// <summary>The official question template; "{}" is the object name.</summary>
    public const string DefaultTemplate = "Is there a {} in the image?";

    /// <summary>Reads annotations as JSON lines <c>{"image": …, "objects": [...]}</c>.</summary>
    public static IReadOnlyList<PopeImageObjects> LoadAnnotations(string path)
    {
        var list = new List<PopeImageObjects>();
        int lineNo = 0;
        foreach (string raw in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(raw)) continue;
            try
            {
                var obj = JsonNode.Parse(raw) as JsonObject ?? throw new DeemFormatException(path, $"line {lineNo} is not a JSON object.");
                string image = obj["image"]?.GetValue<string>() ?? throw new DeemFormatException(path, $"line {lineNo}: missing 'image'.", "image");
                var objects = (obj["objects"] as JsonArray ?? throw new DeemFormatException(path, $"line {lineNo}: missing 'objects'.", "objects"))
                    .Select(o => o!.GetValue<string>()).ToArray();
                list.Add(new PopeImageObjects(image, objects));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                throw new DeemFormatException(path, $"line {lineNo}: {e.Message}", inner: e);
            }
        }
        return list;
    }

    /// <summary>
    /// Builds the questions of one strategy. With <paramref name="skipSmallImages"/> (the official
    /// behaviour) images with fewer than <paramref name="samplesPerImage"/> objects are left out;
    /// otherwise they get as many yes/no pairs as they have objects.
    /// </summary>
    public static IReadOnlyList<PopeQuestion> Build(IReadOnlyList<PopeImageObjects> images, PopeStrategy strategy,
        int samplesPerImage = 3, ulong seed = 0, string template = DefaultTemplate, bool skipSmallImages = true)
    {
        if (samplesPerImage <= 0) throw new ArgumentOutOfRangeException(nameof(samplesPerImage), samplesPerImage, "must be positive");
        if (!template.Contains("{}", StringComparison.Ordinal)) throw new ArgumentException("The template needs a '{}' placeholder.", nameof(template));

        // the images that take part; counts are over these only, as in the official script
        var used = images
            .Select(im => (im.Image, Objects: im.Objects.Distinct(StringComparer.Ordinal).ToArray()))
            .Where(im => im.Objects.Length > 0 && (!skipSmallImages || im.Objects.Length >= samplesPerImage))
            .ToArray();
        var (categories, popular, coOccur) = CountCategories(used.Select(im => (IReadOnlyList<string>)im.Objects));
        return BuildWith(used, strategy, categories, popular,
            coOccur.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value, StringComparer.Ordinal),
            samplesPerImage, seed, template);
    }

    /// <summary>
    /// The question loop of <see cref="Build"/> over images already chosen (distinct object names each),
    /// with the category statistics given: per image the first k objects as "yes", and per positive one
    /// absent category as "no" — the most popular, the most co-occurring, or (random, and when those run
    /// out) a uniform draw from the seeded stream.
    /// </summary>
    public static IReadOnlyList<PopeQuestion> BuildWith(IReadOnlyList<(string Image, string[] Objects)> used, PopeStrategy strategy,
        IReadOnlyList<string> categories, IReadOnlyList<string> popular, IReadOnlyDictionary<string, IReadOnlyList<string>> coOccur,
        int samplesPerImage, ulong seed, string template)
    {
        var rng = new SeededRandom(seed);
        var questions = new List<PopeQuestion>();
        long nextId = 0;

        foreach (var (image, present) in used)
        {
            var presentSet = present.ToHashSet(StringComparer.Ordinal);
            var asked = new HashSet<string>(StringComparer.Ordinal);
            string[] positives = present.Take(samplesPerImage).ToArray();
            var negatives = new List<string>();
            foreach (string pos in positives)
            {
                asked.Add(pos);
                bool Free(string c) => !presentSet.Contains(c) && !asked.Contains(c);
                string? neg = strategy switch
                {
                    PopeStrategy.Random => null,
                    PopeStrategy.Popular => popular.FirstOrDefault(Free),
                    PopeStrategy.Adversarial => coOccur.TryGetValue(pos, out var co) ? co.FirstOrDefault(Free) : null,
                    _ => throw new ArgumentOutOfRangeException(nameof(strategy)),
                };
                if (neg is null)
                {
                    var pool = categories.Where(Free).ToArray();
                    if (pool.Length == 0)
                        throw new ArgumentException($"Image '{image}': no absent category left to ask about.", nameof(used));
                    neg = pool[rng.NextInt(pool.Length)];
                }
                asked.Add(neg);
                negatives.Add(neg);
            }
            foreach (string pos in positives)
                questions.Add(new PopeQuestion(nextId++, image, Question(template, pos), "yes"));
            foreach (string neg in negatives)
                questions.Add(new PopeQuestion(nextId++, image, Question(template, neg), "no"));
        }
        return questions;
    }

    /// <summary>Writes questions as POPE JSON lines, atomically.</summary>
    public static void Write(string path, IEnumerable<PopeQuestion> questions)
    {
        var sb = new StringBuilder();
        foreach (var q in questions)
        {
            var obj = new JsonObject { ["question_id"] = q.QuestionId, ["image"] = q.Image, ["text"] = q.Text, ["label"] = q.Label };
            sb.Append(obj.ToJsonString()).Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>The template filled with <paramref name="objectName"/>, "a" → "an" before a vowel.</summary>
    public static string Question(string template, string objectName)
    {
        bool vowel = objectName.Length > 0 && "aeiou".Contains(objectName[0]);
        string t = vowel ? template.Replace(" a {}", " an {}", StringComparison.Ordinal) : template;
        return t.Replace("{}", objectName, StringComparison.Ordinal);
    }

    /// <summary>
    /// All categories in first-seen order (then <paramref name="extraCategories"/> never seen, frequency 0);
    /// categories by frequency (desc, ties first-seen); per category the co-occurring categories by count
    /// (desc, ties first-seen). Each image's list should hold distinct names.
    /// </summary>
    public static (List<string> Categories, List<string> Popular, Dictionary<string, List<string>> CoOccur) CountCategories(
        IEnumerable<IReadOnlyList<string>> objectsOf, IEnumerable<string>? extraCategories = null)
    {
        var order = new Dictionary<string, int>(StringComparer.Ordinal);
        var freq = new Dictionary<string, int>(StringComparer.Ordinal);
        var co = new Dictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        var coOrder = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var objs in objectsOf)
        {
            foreach (string o in objs)
            {
                order.TryAdd(o, order.Count);
                freq[o] = freq.GetValueOrDefault(o) + 1;
            }
            foreach (string o in objs)
            {
                if (!co.TryGetValue(o, out var row)) { co[o] = row = new(StringComparer.Ordinal); coOrder[o] = []; }
                foreach (string other in objs)
                {
                    if (other == o) continue;
                    if (!row.ContainsKey(other)) coOrder[o].Add(other);
                    row[other] = row.GetValueOrDefault(other) + 1;
                }
            }
        }
        foreach (string c in extraCategories ?? []) order.TryAdd(c, order.Count);
        var categories = order.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToList();
        var popular = categories.OrderByDescending(c => freq.GetValueOrDefault(c)).ToList(); // OrderBy is stable
        var coSorted = coOrder.ToDictionary(kv => kv.Key, kv => kv.Value.OrderByDescending(c => co[kv.Key][c]).ToList(), StringComparer.Ordinal);
        return (categories, popular, coSorted);
    }
}
