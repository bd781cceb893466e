using Deem.Config;
using Deem.Data.Formats;
using Deem.Data.Images;
using Deem.Text;

namespace Deem.Data.Pipeline;

/// <summary>One single-turn SFT item: an image, a question and its answer.</summary>
public sealed record SftItem(ImageRef Image, string Question, string Answer, string Source);

/// <summary>
/// Stage-2 image-text SFT batches (reference §5.2; paper §2.3): LLaVA-style items split into single
/// (human, gpt) turns with <c>&lt;image&gt;</c> stripped, plus caption-as-QA items (a short-caption
/// question drawn from <see cref="PromptTemplates.CaptionQuestions"/>, the caption as answer), all
/// concatenated and shuffled each epoch (caption-as-QA only when the stage's caption_qa is on). Each sample is
/// <c>PromptTemplates.WithAnswer(PromptTemplates.VqaTrain(question, N), answer)</c> tokenised with BOS;
/// its prompt offset is the tokenised prompt's length (BOS included), so NTP learns the answer and
/// <c>&lt;/s&gt;</c> only. Images: plain resize to the encoder and decoder resolutions, flipped only when
/// random_flip is on. The batches carry NIP weight 0 (image → text data, the SFT collators'
/// <c>loss_img_weight=0.0</c>). A sample longer than max_length has its answer cut at max_length; one
/// whose prompt alone does not fit is skipped and counted ("too long").
/// </summary>
public sealed class SftStream : IBatchStream
{
    public const string LlavaSource = "llava", CaptionQaSource = "caption_qa";

    readonly StageConfig _config;
    readonly ITextTokenizer _tok;
    readonly int _imageTokens;
    readonly DualTransform _transform;
    readonly Dictionary<string, int> _skipBaseline;
    readonly List<SftItem> _items;
    int _epoch;
    int _index;
    long _batches;
    int[] _order;

    /// <param name="paths">LLaVA json + image root; optional caption-as-QA webdataset shards.</param>
    /// <param name="config">Stage fields used: batch_size, max_length, encoder/decoder_resolution, random_flip, caption_qa, seed.</param>
    /// <param name="tokenizer">Text tokenizer.</param>
    /// <param name="imageTokens">N, placeholders per image block.</param>
    /// <param name="skips">Counter for malformed items and unreadable images.</param>
    /// <param name="resume">A position from <see cref="Position"/>.</param>
    public SftStream(DataPaths paths, StageConfig config, ITextTokenizer tokenizer, int imageTokens, SkipCounter skips, DataPosition? resume = null)
    {
        if (resume is not null && resume.Stage != 2) throw new DeemFormatException("data position", $"belongs to stage {resume.Stage}, not 2", "stage");
        (_config, _tok, _imageTokens, Skips) = (config, tokenizer, imageTokens, skips);
        _transform = new DualTransform(config.EncoderResolution, config.DecoderResolution, CenterCrop: false);
        _skipBaseline = new Dictionary<string, int>(resume?.SkipCounts ?? [], StringComparer.Ordinal);
        _items = LoadItems(config.CaptionQa ? paths : paths with { CaptionQaShards = null }, config.Seed, skips);
        if (_items.Count == 0) throw new DeemFormatException(paths.LlavaJson ?? "data paths", "no usable SFT item");
        var at = resume?.Source("sft", "data position");
        (_epoch, _index, _batches) = (at?.Epoch ?? 0, (int)(at?.Record ?? 0), resume?.Batches ?? 0);
        _order = Order(_epoch);
    }

    /// <summary>All items in file order (LLaVA turns, then caption-as-QA).</summary>
    public IReadOnlyList<SftItem> Items => _items;

    public SkipCounter Skips { get; }

    public IReadOnlyDictionary<string, int> SkipTotals =>
        _skipBaseline.Keys.Union(Skips.Counts.Keys).ToDictionary(k => k, k => _skipBaseline.GetValueOrDefault(k) + Skips[k], StringComparer.Ordinal);

    public DataPosition Position => new()
    {
        Stage = 2, Batches = _batches,
        Sources = new(StringComparer.Ordinal) { ["sft"] = new SourcePosition { Epoch = _epoch, Record = _index } },
        SkipCounts = new Dictionary<string, int>(SkipTotals, StringComparer.Ordinal),
    };

    /// <summary>Single-turn items of a LLaVA file and caption-as-QA items of caption shards.</summary>
    public static List<SftItem> LoadItems(DataPaths paths, int seed, SkipCounter skips)
    {
        var items = new List<SftItem>();
        if (paths.LlavaJson is { } json)
            foreach (var it in Llava.Read(json, DataPaths.Require(paths.LlavaImages, "llava_images"), skips))
                for (int t = 0; t + 1 < it.Conversations.Count; t += 2)
                    items.Add(new SftItem(ImageRef.File(it.ImagePath), StripImageMarker(it.Conversations[t].Value), it.Conversations[t + 1].Value.Trim(), LlavaSource));
        if (paths.CaptionQaShards is { } shards)
        {
            var rng = PipelineRng.For(seed, "caption-questions");
            foreach (var file in DataPaths.TarShards(shards))
                foreach (var s in WebDataset.ReadShard(file, skips))
                {
                    string q = PromptTemplates.CaptionQuestions[rng.NextInt(PromptTemplates.CaptionQuestions.Length)];
                    items.Add(new SftItem(new ImageRef(s.Source, s.Key, s.Jpg, false), q, s.Caption.Trim(), CaptionQaSource));
                }
        }
        return items;
    }

    /// <summary>The question without LLaVA's <c>&lt;image&gt;</c> marker (the template places the image block).</summary>
    public static string StripImageMarker(string question) => question.Replace(Llava.ImageMarker, "").Trim();

    /// <summary>Ids of an item (BOS, prompt, answer, <c>&lt;/s&gt;</c>) and the prompt length, or null when the prompt alone exceeds max_length.</summary>
    public (int[] Ids, int PromptLength)? Tokenize(SftItem item)
    {
        string prompt = PromptTemplates.VqaTrain(item.Question, _imageTokens);
        int promptLength = _tok.Encode(prompt, addBos: true).Count;
        var ids = _tok.Encode(PromptTemplates.WithAnswer(prompt, item.Answer), addBos: true).ToArray();
        if (promptLength >= _config.MaxLength) return null;
        return (ids.Length > _config.MaxLength ? ids[.._config.MaxLength] : ids, promptLength);
    }

    int[] Order(int epoch) => PipelineRng.For(_config.Seed, "sft-order", epoch).Permutation(_items.Count);

    public DeemBatch Next()
    {
        var rows = new List<int[]>();
        var images = new List<IReadOnlyList<ImagePair>>();
        var offsets = new List<long>();
        var sources = new List<string>();
        int misses = 0;
        while (rows.Count < _config.BatchSize)
        {
            var item = _items[_order[_index]];
            bool flip = _config.RandomFlip && PipelineRng.For(_config.Seed, "sft-flip", (long)_epoch * _items.Count + _index).Bernoulli(0.5);
            if (++_index == _items.Count) { _epoch++; _index = 0; _order = Order(_epoch); }
            var tokens = Tokenize(item);
            ImagePair? pixels = null;
            if (tokens is null) Skips.Skip(item.Image.Describe(), null, "too long", $"prompt of '{item.Question}' exceeds max_length {_config.MaxLength}");
            else pixels = _transform.TryLoad(item.Image with { Flip = flip }, Skips);
            if (tokens is null || pixels is null)
            {
                if (++misses > _items.Count) throw new DeemFormatException(item.Image.Source, "no SFT item is usable (see the skip counts)");
                continue;
            }
            rows.Add(tokens.Value.Ids);
            offsets.Add(tokens.Value.PromptLength);
            images.Add([pixels]);
            sources.Add(item.Source);
        }
        _batches++;
        return BatchCollator.Collate(rows, images, _tok.Specials, sources, _config.EncoderResolution, _config.DecoderResolution,
            promptOffsets: offsets, nipWeight: 0.0);
    }

    public void Dispose() { }
}
