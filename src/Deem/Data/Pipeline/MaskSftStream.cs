using Deem.Config;
using Deem.Data.Formats;
using Deem.Data.Images;
using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Data.Pipeline;

/// <summary>One stage-3 sample before batching: ids, explicit targets (−100 = not learned), the image
/// views repeated once per image block, and the region masks [R+1, 1, He, We] (first all ones).</summary>
public sealed record MaskSftSample(int[] Ids, long[] Targets, IReadOnlyList<ImagePair> Images, Tensor RegionMasks);

/// <summary>
/// Stage-3 mask-text SFT batches (reference §5.3; paper §2.3): COCO instances become Osprey-style
/// conversations. The header "You are a helpful assistant.\n\n", then per region a turn
/// "## user: {question}\n## asistant: {answer}\n" (the first question preceded by the COCO preamble,
/// whose leading <c>&lt;mask&gt;</c> is the whole image), <c>&lt;/s&gt;</c> at the end; every <c>&lt;mask&gt;</c>
/// becomes an image block. Up to min(15, max_images_per_sequence − 1) regions per image, shuffled; the
/// answer is the annotation's region description ("caption"), else its category name. The image
/// tensors are the same pixels repeated 1 + #regions times, the region masks are all ones for the
/// whole image then each region's mask (polygon or RLE decoded at the image's size, resized nearest).
/// <para>Labels: <see cref="DeemBatch.GtTextIds"/> holds each learned token's id and −100 elsewhere.
/// Learned: every assistant answer with the " " before it and the "\n" after it, and the final
/// <c>&lt;/s&gt;</c>; not learned: BOS, the header and the user turns with their "## asistant:" prefix.
/// (The authors also learn the first tokens of each user turn, "## user"; we learn answers only.)
/// A conversation longer than max_length loses its last regions until it fits.</para>
/// Images: plain resize (no crop), flipped with their masks only when random_flip is on. The batches
/// carry NIP weight 0 (the stage has no diffusion model).
/// </summary>
public sealed class MaskSftStream : IBatchStream
{
    public const string Source = "coco_region";
    /// <summary>Most regions per image (reference §5.3).</summary>
    public const int MaxRegions = 15;

    readonly StageConfig _config;
    readonly ITextTokenizer _tok;
    readonly int _imageTokens;
    readonly DualTransform _transform;
    readonly Dictionary<string, int> _skipBaseline;
    readonly List<(CocoImage Image, List<CocoAnnotation> Regions)> _items;
    readonly Dictionary<int, string> _categories;
    int _epoch, _index;
    long _batches;
    int[] _order;

    /// <param name="paths">COCO instances json and image folder.</param>
    /// <param name="config">Stage fields used: batch_size, max_length, max_images_per_sequence, encoder/decoder_resolution, random_flip, seed.</param>
    /// <param name="tokenizer">Text tokenizer.</param>
    /// <param name="imageTokens">N, placeholders per image block.</param>
    /// <param name="skips">Counter for malformed annotations and unreadable images.</param>
    /// <param name="resume">A position from <see cref="Position"/>.</param>
    public MaskSftStream(DataPaths paths, StageConfig config, ITextTokenizer tokenizer, int imageTokens, SkipCounter skips, DataPosition? resume = null)
    {
        if (resume is not null && resume.Stage != 3) throw new DeemFormatException("data position", $"belongs to stage {resume.Stage}, not 3", "stage");
        if (config.MaxImagesPerSequence < 2) throw new DeemConfigException("stage config", "max_images_per_sequence", "stage 3 needs ≥ 2 (whole image + a region)");
        (_config, _tok, _imageTokens, Skips) = (config, tokenizer, imageTokens, skips);
        _transform = new DualTransform(config.EncoderResolution, config.DecoderResolution, CenterCrop: false);
        _skipBaseline = new Dictionary<string, int>(resume?.SkipCounts ?? [], StringComparer.Ordinal);
        string annotations = DataPaths.Require(paths.CocoAnnotations, "coco_annotations");
        var data = Coco.Read(annotations, DataPaths.Require(paths.CocoImages, "coco_images"), skips);
        _categories = data.Categories.ToDictionary(c => c.Id, c => c.Name);
        var byImage = data.Annotations.GroupBy(a => a.ImageId).ToDictionary(g => g.Key, g => g.OrderBy(a => a.Id).ToList());
        _items = data.Images.Where(im => byImage.ContainsKey(im.Id)).Select(im => (im, byImage[im.Id])).ToList();
        if (_items.Count == 0) throw new DeemFormatException(annotations, "no image with a usable region annotation");
        var at = resume?.Source("coco", "data position");
        (_epoch, _index, _batches) = (at?.Epoch ?? 0, (int)(at?.Record ?? 0), resume?.Batches ?? 0);
        _order = Order(_epoch);
    }

    public SkipCounter Skips { get; }

    public IReadOnlyDictionary<string, int> SkipTotals =>
        _skipBaseline.Keys.Union(Skips.Counts.Keys).ToDictionary(k => k, k => _skipBaseline.GetValueOrDefault(k) + Skips[k], StringComparer.Ordinal);

    public DataPosition Position => new()
    {
        Stage = 3, Batches = _batches,
        Sources = new(StringComparer.Ordinal) { ["coco"] = new SourcePosition { Epoch = _epoch, Record = _index } },
        SkipCounts = new Dictionary<string, int>(SkipTotals, StringComparer.Ordinal),
    };

    /// <summary>Images with at least one region.</summary>
    public int Count => _items.Count;

    int[] Order(int epoch) => PipelineRng.For(_config.Seed, "coco-order", epoch).Permutation(_items.Count);

    /// <summary>Ids and targets of a conversation over <paramref name="turns"/>, built segment by segment so
    /// the learned spans are exact; the text equals <c>PromptTemplates.Region(turns, N) + "&lt;/s&gt;"</c>.</summary>
    public (int[] Ids, long[] Targets) Conversation(IReadOnlyList<(string Question, string Answer)> turns)
    {
        string block = SpecialTokens.ImageBlock(_imageTokens);
        var ids = new List<int> { _tok.Specials.Bos };
        var targets = new List<long> { BatchCollator.Ignore };
        void Add(string text, bool learned)
        {
            var part = _tok.Encode(text.Replace("<mask>", block));
            ids.AddRange(part);
            targets.AddRange(part.Select(i => learned ? i : BatchCollator.Ignore));
        }
        for (int i = 0; i < turns.Count; i++)
        {
            string question = (i == 0 ? PromptTemplates.RegionPreamble : "") + turns[i].Question;
            Add((i == 0 ? PromptTemplates.System : "") + $"## user: {question}\n## asistant:", learned: false);
            Add($" {turns[i].Answer}\n", learned: true);
        }
        Add(SpecialTokens.EosText, learned: true);
        return (ids.ToArray(), targets.ToArray());
    }

    /// <summary>The sample of item <paramref name="item"/> with its regions in the order drawn by <paramref name="rng"/>; null when its image does not decode or nothing fits.</summary>
    public MaskSftSample? Build(int item, PipelineRng rng)
    {
        var (image, regions) = _items[item];
        var shuffled = regions.ToList();
        rng.Shuffle(shuffled);
        int take = Math.Min(shuffled.Count, Math.Min(MaxRegions, _config.MaxImagesPerSequence - 1));
        shuffled.RemoveRange(take, shuffled.Count - take);
        bool flip = _config.RandomFlip && rng.Bernoulli(0.5);

        using var scope = NewDisposeScope();
        Tensor pixels;
        try { pixels = ImageTensors.Load(image.Path); }
        catch (DeemFormatException e) { Skips.Skip(image.Path, null, "unreadable image", e.Message, e); return null; }
        var masks = new List<Tensor>();
        var kept = new List<CocoAnnotation>();
        foreach (var a in shuffled)
        {
            byte[] m;
            try { m = a.Segmentation.ToMask(image.Height, image.Width); }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                Skips.Skip(image.Path, $"annotation {a.Id}", "bad segmentation", e.Message, e);
                continue;
            }
            var mask = tensor(m, [image.Height, image.Width], ScalarType.Byte);                  // [H, W]
            if (mask.shape[0] != pixels.shape[1] || mask.shape[1] != pixels.shape[2])
                mask = nn.functional.interpolate(mask.to_type(ScalarType.Float32).unsqueeze(0).unsqueeze(0),
                    size: [pixels.shape[1], pixels.shape[2]], mode: InterpolationMode.Nearest).squeeze(0).squeeze(0); // [H', W']
            masks.Add(_transform.ApplyMask(mask, flip));                                         // [1, Se, Se]
            kept.Add(a);
        }
        var turns = kept.Select(a => (PromptTemplates.RegionQuestion, Answer(a))).ToList();
        (int[] Ids, long[] Targets) conv = Conversation(turns);
        while (turns.Count > 0 && conv.Ids.Length > _config.MaxLength)
        {
            turns.RemoveAt(turns.Count - 1);
            masks.RemoveAt(masks.Count - 1);
            conv = Conversation(turns);
        }
        if (turns.Count == 0)
        {
            Skips.Skip(image.Path, null, "too long", $"not even one region fits max_length {_config.MaxLength}");
            return null;
        }
        var views = _transform.Apply(pixels, flip);
        var whole = ones(1, _config.EncoderResolution, _config.EncoderResolution);               // [1, Se, Se]
        var stacked = stack([whole, .. masks]);                                                  // [R+1, 1, Se, Se]
        return new MaskSftSample(conv.Ids, conv.Targets, Enumerable.Repeat(views, turns.Count + 1).ToList(), stacked.DetachFromDisposeScope());
    }

    string Answer(CocoAnnotation a) =>
        a.Caption is { Length: > 0 } c ? c : _categories.GetValueOrDefault(a.CategoryId, $"category {a.CategoryId}");

    public DeemBatch Next()
    {
        var samples = new List<MaskSftSample>();
        int misses = 0;
        try
        {
            while (samples.Count < _config.BatchSize)
            {
                var rng = PipelineRng.For(_config.Seed, "coco-sample", (long)_epoch * _items.Count + _index);
                int item = _order[_index];
                if (++_index == _items.Count) { _epoch++; _index = 0; _order = Order(_epoch); }
                if (Build(item, rng) is { } s) samples.Add(s);
                else if (++misses > _items.Count) throw new DeemFormatException(_items[item].Image.Path, "no region sample is usable (see the skip counts)");
            }
            _batches++;
            var masks = cat(samples.Select(s => s.RegionMasks).ToList(), 0);                     // [I, 1, Se, Se]
            return BatchCollator.Collate(samples.Select(s => s.Ids).ToList(), samples.Select(s => s.Images).ToList(), _tok.Specials,
                Enumerable.Repeat(Source, samples.Count).ToList(), _config.EncoderResolution, _config.DecoderResolution,
                targets: samples.Select(s => s.Targets).ToList(), regionMasks: masks, nipWeight: 0.0);
        }
        finally
        {
            foreach (var s in samples) s.RegionMasks.Dispose();
        }
    }

    public void Dispose() { }
}
