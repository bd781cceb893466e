using System.Diagnostics;
using Deem.Config;
using Deem.Diagnostics;
using Deem.IO;
using Deem.Model;
using Deem.Text;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>What <see cref="ScaleBenchmark"/> runs.</summary>
/// <param name="Preset">The model preset (paper-7b for the paper's scale).</param>
/// <param name="DType">Storage dtype of the checkpoint and of the loaded model.</param>
/// <param name="Work">Folder for the checkpoint and the imported model (about two model sizes of disk while it runs).</param>
/// <param name="Tokenizer">The tokenizer file or folder (LLaMA's <c>tokenizer.model</c> for the paper's vocabulary); the LLM's vocabulary follows it.</param>
/// <param name="TokenizerNote">How the report names it (e.g. that it is a stand-in).</param>
/// <param name="DecodeTokens">Timed decode steps after the first answer token.</param>
/// <param name="Seed">Seed of the random weights and the picture.</param>
/// <param name="Keep">Keep the checkpoint and the model folder (by default both are deleted at the end).</param>
/// <param name="DecodeBatch">After the answer, decode this many copies of the question at once with the same model (0 or 1: none).</param>
public sealed record ScaleBenchmarkOptions(string Preset, ScalarType DType, string Work, string Tokenizer, string TokenizerNote, int DecodeTokens = 4,
    ulong Seed = 0, bool Keep = false, int DecodeBatch = 0);

/// <summary>What one run measured.</summary>
/// <param name="Preset">Model preset.</param>
/// <param name="DType">Storage dtype.</param>
/// <param name="TokenizerNote">Which tokenizer was used.</param>
/// <param name="Checkpoint">The random checkpoint written.</param>
/// <param name="Import">The import of it.</param>
/// <param name="Load">What the text-only load materialised.</param>
/// <param name="WriteSeconds">Writing the checkpoint.</param>
/// <param name="ImportSeconds">Importing it.</param>
/// <param name="LoadSeconds">Loading the model folder.</param>
/// <param name="PeakRssBytes">VmHWM of the whole run.</param>
/// <param name="PeakRssLoadAskBytes">VmHWM from the start of the load to the end of the answer.</param>
/// <param name="PrefillTokens">Prompt tokens (image placeholders included).</param>
/// <param name="PrefillSeconds">Encoder + prompt forward, to the first answer token.</param>
/// <param name="DecodeTokens">Timed decode steps.</param>
/// <param name="DecodeSeconds">Their time.</param>
/// <param name="WeightBytesPerToken">Weights one decode step reads: the LLM layers (MMFS included: the image stays visible) and the text head.</param>
/// <param name="CacheBytesPerToken">KV cache one decode step reads (mean over the timed steps).</param>
/// <param name="Bandwidth">GEMV and copy bandwidth measured in the same run (first, over 256 MB buffers).</param>
/// <param name="Answer">The decoded answer (noise: the weights are random).</param>
/// <param name="Batched">The batched decode, when asked for.</param>
public sealed record ScaleBenchmarkResult(string Preset, string DType, string TokenizerNote, RandomCheckpointReport Checkpoint, ImportReport Import,
    MaterialiseReport Load, double WriteSeconds, double ImportSeconds, double LoadSeconds, long PeakRssBytes, long PeakRssLoadAskBytes,
    int PrefillTokens, double PrefillSeconds, int DecodeTokens, double DecodeSeconds, double WeightBytesPerToken, double CacheBytesPerToken,
    Bandwidth Bandwidth, string Answer, BatchDecodeResult? Batched = null)
{
    public double PrefillTokensPerSecond => PrefillTokens / PrefillSeconds;
    public double DecodeTokensPerSecond => DecodeTokens / DecodeSeconds;

    /// <summary>The decode against its memory roofline (batch 1, the prompt as context).</summary>
    public DecodeRoofline Roofline => new(Preset, 1, PrefillTokens, DecodeTokensPerSecond, WeightBytesPerToken, CacheBytesPerToken, Bandwidth);

    /// <summary>The batched decode against its memory roofline (same weights per step, the cache of every row), or null.</summary>
    public DecodeRoofline? BatchedRoofline => Batched is null ? null
        : new(Preset, Batched.Batch, PrefillTokens, Batched.TokensPerSecond, WeightBytesPerToken, Batched.Batch * CacheBytesPerToken, Bandwidth);

    /// <summary>Decode tokens/s if each step read its bytes at the measured GEMV bandwidth.</summary>
    public double GemvRooflineTokensPerSecond => Roofline.RooflineTokensPerSecond;

    /// <summary>The same at the copy bandwidth's read half (a copy reads and writes each byte).</summary>
    public double CopyRooflineTokensPerSecond => Bandwidth.CopyBytesPerSecond / 2 / (WeightBytesPerToken + CacheBytesPerToken);
}

/// <summary>
/// Paper scale on one machine, end to end (a benchmark, never a test): random weights of the preset in the authors'
/// key layout, written tensor by tensor as sharded safetensors; <see cref="CheckpointImport"/> into a model folder;
/// a text-only load in the storage dtype (<see cref="ModelLoader"/>: meta build, memory-mapped weights); then one
/// question about a generated picture through <see cref="DeemPipeline"/> as <c>deem ask</c> asks it (VQA template,
/// greedy), timed to the first token (prefill) and over the decode steps, against the memory roofline.
/// </summary>
public static class ScaleBenchmark
{
    public static ScaleBenchmarkResult Run(ScaleBenchmarkOptions o, Action<string>? progress = null)
    {
        if (o.DecodeTokens < 1) throw new DeemConfigException("--decode-tokens", "decode_tokens", $"must be >= 1, found {o.DecodeTokens}");
        var say = progress ?? (_ => { });
        Directory.CreateDirectory(o.Work);
        string authors = Path.Combine(o.Work, "authors-checkpoint"), modelDir = Path.Combine(o.Work, "model");
        var tokenizer = TokenizerFiles.LoadFile(o.Tokenizer);
        var importOptions = new ImportOptions { Out = modelDir, Checkpoint = authors, Tokenizer = o.Tokenizer, Preset = o.Preset, Dtype = "keep" };
        var config = CheckpointImport.ResolveConfig(importOptions, tokenizer.Specials);
        try
        {
            // First, so its buffers are gone before the model is loaded.
            say("measuring memory bandwidth");
            var bandwidth = Bandwidth.Measure(megabytes: 256, seconds: 1.0);

            say($"writing random {config.Name} weights ({Placement.DTypeNameOf(o.DType)}) to {authors}");
            var sw = Stopwatch.StartNew();
            var written = RandomCheckpoint.WriteWeights(authors, config, o.DType, o.Seed, maxShardBytes: 2L << 30);
            double writeSeconds = sw.Elapsed.TotalSeconds;

            say($"importing into {modelDir}");
            sw.Restart();
            var imported = CheckpointImport.Run(importOptions);
            double importSeconds = sw.Elapsed.TotalSeconds;
            if (!o.Keep) Directory.Delete(authors, recursive: true);

            say("loading text-only");
            GC.Collect();
            long peakBeforeLoad = ProcessMemory.Peak() ?? 0;                                       // writing and importing
            ProcessMemory.ResetPeak();
            sw.Restart();
            // What DeemPipeline.Load does with these options (deem ask: text-only), keeping the load's report.
            var loaded = ModelLoader.Load(modelDir, LoadOptions.TextOnly(new Placement(CPU, o.DType)));
            using var pipeline = new DeemPipeline(loaded.Model, loaded.Tokenizer);
            double loadSeconds = sw.Elapsed.TotalSeconds;
            var model = pipeline.Model;

            say("answering one question about a generated picture");
            int R = config.EncoderResolution;
            var picture = Picture(R, o.Seed);                                                      // [3, R, R]
            var prompt = pipeline.BuildPrompt(PromptTemplates.VqaEval("What is in the picture?", config.ImageTokens), [picture]);
            var options = GenerationOptions.Greedy(o.DecodeTokens + 1) with { MinNewTokens = o.DecodeTokens + 1 };
            var ids = new List<long>();
            sw.Restart();
            double prefill = 0;
            foreach (var token in pipeline.Text.Stream(prompt, options))
            {
                if (ids.Count == 0) prefill = sw.Elapsed.TotalSeconds;
                ids.Add(token.Id);
            }
            double decode = sw.Elapsed.TotalSeconds - prefill;
            long peakLoadAsk = ProcessMemory.Peak() ?? 0;
            BatchDecodeResult? batched = null;
            if (o.DecodeBatch > 1)
            {
                say($"decoding {o.DecodeBatch} copies of the question at once");
                batched = BatchDecode.Run(model, prompt, o.DecodeBatch, o.DecodeTokens);
            }

            double weights = model.named_parameters()
                .Where(p => (p.name.StartsWith("mm_decoder.", StringComparison.Ordinal) || p.name.StartsWith("text_decoder.", StringComparison.Ordinal))
                            && !p.name.Contains("embed_tokens", StringComparison.Ordinal))
                .Sum(p => (double)p.parameter.numel() * p.parameter.element_size());
            var llm = config.Llm;
            double cache = 2.0 * llm.NumHiddenLayers * (prompt.Ids.Count + 1 + o.DecodeTokens / 2.0) * llm.KeyValueHeads * llm.HeadDim * Placement.BytesOf(o.DType);
            return new ScaleBenchmarkResult(config.Name, Placement.DTypeNameOf(o.DType), o.TokenizerNote, written, imported, loaded.Report,
                writeSeconds, importSeconds, loadSeconds, Math.Max(peakBeforeLoad, peakLoadAsk), peakLoadAsk, prompt.Ids.Count, prefill, o.DecodeTokens, decode,
                weights, cache, bandwidth, pipeline.Codec.Decode(ids).Trim(), batched);
        }
        finally
        {
            if (!o.Keep)
                foreach (var dir in new[] { authors, modelDir })
                    if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A smooth seeded picture [3, R, R] in [0, 1]: low-frequency noise upsampled, so the encoder sees structure.</summary>
    static Tensor Picture(int resolution, ulong seed)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(seed);
        var coarse = rand(new long[] { 1, 3, 8, 8 }, generator: g);                                 // [1, 3, 8, 8]
        var up = nn.functional.interpolate(coarse, [resolution, resolution], mode: InterpolationMode.Bilinear, align_corners: false);
        return up.squeeze(0).MoveToOuterDisposeScope();                                            // [3, R, R]
    }
}
