using Deem.Config;
using Deem.Data.Formats;
using Deem.Data.Images;
using Deem.Text;

namespace Deem.Data.Pipeline;

/// <summary>
/// Stage-1 alignment-pretraining batches (reference §5.1; paper §2.3): MMC4 documents packed with
/// "image" truncation and image–caption pairs packed with "sample" truncation, each source with its
/// own <see cref="SequencePacker"/>. Each batch (batch_size sequences) comes wholly from the
/// interleaved source with probability interleaved_batch_fraction (2 : 1 in the paper), else from the
/// pairs; a source that runs out starts a new epoch ("longest" sampling). All choices are seeded, and
/// <see cref="Position"/> captures the random states, stream positions and packing buffers so a stream
/// built from it continues exactly.
/// </summary>
public sealed class Stage1Stream : IBatchStream
{
    public const string Mmc4Source = "mmc4", PairSource = "laion";

    readonly StageConfig _config;
    readonly SpecialTokens _tokens;
    readonly PipelineRng _mix;
    readonly Packed<Mmc4Record>? _mmc4;
    readonly Packed<WdsSample>? _pairs;
    readonly Dictionary<string, int> _skipBaseline;
    long _batches;

    /// <param name="paths">MMC4 annotations + images (when interleaved_batch_fraction &gt; 0) and LAION shards (when &lt; 1).</param>
    /// <param name="config">Stage fields used: batch_size, max_length, max_images_per_sequence, interleaved_batch_fraction,
    /// image_first_probability, random_flip, encoder/decoder_resolution, seed.</param>
    /// <param name="tokenizer">Text tokenizer.</param>
    /// <param name="imageTokens">N, placeholders per image block (the perceiver's query count).</param>
    /// <param name="skips">Counter for malformed records and unreadable images (strict: throw instead).</param>
    /// <param name="resume">A position from <see cref="Position"/> to continue from.</param>
    public Stage1Stream(DataPaths paths, StageConfig config, ITextTokenizer tokenizer, int imageTokens, SkipCounter skips, DataPosition? resume = null)
    {
        if (resume is not null && resume.Stage != 1) throw new DeemFormatException("data position", $"belongs to stage {resume.Stage}, not 1", "stage");
        _config = config;
        _tokens = tokenizer.Specials;
        Skips = skips;
        _skipBaseline = new Dictionary<string, int>(resume?.SkipCounts ?? [], StringComparer.Ordinal);
        _batches = resume?.Batches ?? 0;
        _mix = new PipelineRng(resume?.MixRngState ?? PipelineRng.For(config.Seed, "mix").State);
        var transform = new DualTransform(config.EncoderResolution, config.DecoderResolution, CenterCrop: true);
        Documents = new Stage1Documents(tokenizer, imageTokens, config.MaxLength, transform, config.RandomFlip, config.ImageFirstProbability, skips);
        if (config.InterleavedBatchFraction > 0)
        {
            string images = DataPaths.Require(paths.Mmc4Images, "mmc4_images");
            _mmc4 = new Packed<Mmc4Record>(Mmc4Source, DataPaths.Mmc4Shards(DataPaths.Require(paths.Mmc4Annotations, "mmc4_annotations")),
                (f, s) => Mmc4.Read(f, images, s), Documents.FromMmc4, PackTruncation.Image, this, imageTokens, transform, resume);
        }
        if (config.InterleavedBatchFraction < 1)
            _pairs = new Packed<WdsSample>(PairSource, DataPaths.TarShards(DataPaths.Require(paths.LaionShards, "laion_shards")),
                WebDataset.ReadShard, Documents.FromPair, PackTruncation.Sample, this, imageTokens, transform, resume);
    }

    /// <summary>The document builder (its <see cref="Stage1Documents.Rejected"/> counts rule-based rejections).</summary>
    public Stage1Documents Documents { get; }

    public SkipCounter Skips { get; }

    public IReadOnlyDictionary<string, int> SkipTotals =>
        _skipBaseline.Keys.Union(Skips.Counts.Keys).ToDictionary(k => k, k => _skipBaseline.GetValueOrDefault(k) + Skips[k], StringComparer.Ordinal);

    public DataPosition Position
    {
        get
        {
            var sources = new Dictionary<string, SourcePosition>(StringComparer.Ordinal);
            if (_mmc4 is not null) sources[Mmc4Source] = _mmc4.Position;
            if (_pairs is not null) sources[PairSource] = _pairs.Position;
            return new DataPosition
            {
                Stage = 1, Batches = _batches, MixRngState = _mix.State, Sources = sources,
                SkipCounts = new Dictionary<string, int>(SkipTotals, StringComparer.Ordinal),
            };
        }
    }

    public DeemBatch Next()
    {
        bool interleaved = _mix.Bernoulli(_config.InterleavedBatchFraction);
        var rows = new List<PackedSequence>();
        string name = interleaved ? Mmc4Source : PairSource;
        for (int b = 0; b < _config.BatchSize; b++)
            rows.Add(interleaved ? _mmc4!.NextSequence() : _pairs!.NextSequence());
        _batches++;
        return BatchCollator.Collate(rows.Select(r => r.Ids).ToList(), rows.Select(r => (IReadOnlyList<ImagePair>)r.Images.Select(i => i.Pixels).ToList()).ToList(),
            _tokens, Enumerable.Repeat(name, rows.Count).ToList(), _config.EncoderResolution, _config.DecoderResolution);
    }

    public void Dispose()
    {
        _mmc4?.Dispose();
        _pairs?.Dispose();
    }

    /// <summary>One source: its record stream, random state and packing buffer.</summary>
    sealed class Packed<T> : IDisposable
    {
        readonly string _name;
        readonly RecordStream<T> _stream;
        readonly Func<T, PipelineRng, TokenDoc?> _build;
        readonly PipelineRng _rng;
        readonly SequencePacker _packer;

        public Packed(string name, IReadOnlyList<string> files, Func<string, SkipCounter, IEnumerable<T>> read, Func<T, PipelineRng, TokenDoc?> build,
            PackTruncation truncation, Stage1Stream owner, int imageTokens, DualTransform transform, DataPosition? resume)
        {
            var config = owner._config;
            _name = name;
            _build = build;
            var at = resume?.Source(name, "data position");
            _stream = new RecordStream<T>(files, read, config.Seed, owner.Skips, at?.Stream);
            _rng = new PipelineRng(at?.RngState ?? PipelineRng.For(config.Seed, name).State);
            _packer = new SequencePacker(owner._tokens, imageTokens, config.MaxLength, config.MaxImagesPerSequence, truncation);
            if (at is not null)
            {
                // The buffer's images are decoded again from their references; data changed since the position was taken is an error.
                var strict = new SkipCounter(strict: true);
                _packer.Add(at.BufferIds, at.BufferImages.Select(r => new BufferedImage(r, transform.TryLoad(r, strict)!)).ToList());
            }
        }

        public SourcePosition Position => new()
        {
            Epoch = _stream.Position.Epoch, File = _stream.Position.File, Record = _stream.Position.Record, RngState = _rng.State,
            BufferIds = _packer.BufferIds.ToArray(), BufferImages = _packer.BufferImages.Select(i => i.Ref).ToArray(),
        };

        public PackedSequence NextSequence()
        {
            while (!_packer.Ready) _packer.Add(NextDocument());
            return _packer.Cut();
        }

        TokenDoc NextDocument()
        {
            int startEpoch = _stream.Position.Epoch;
            while (true)
            {
                var record = _stream.Next();
                if (_build(record, _rng) is { } doc) return doc;
                if (_stream.Position.Epoch > startEpoch + 1)
                    throw new DeemFormatException(_name, "a whole pass over the source gave no usable document (see the skip counts)");
            }
        }

        public void Dispose() => _stream.Dispose();
    }
}
