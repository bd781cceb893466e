using Deem.Training;
using Deem.Config;
using Deem.Data.Pipeline;
using Deem.World;
using Deem.Diagnostics;
using Deem.Diffusion;
using Deem.Model;
using Deem.Text;
using static TorchSharp.torch;

namespace Deem.World.Experiments;

/// <summary>What <see cref="TrainStepBenchmark.Run"/> measures.</summary>
/// <param name="Preset">tiny, or <see cref="TrainStepBenchmark.WidePreset"/>.</param>
/// <param name="Pairs">Timed rounds; each runs every variant once on the same batch.</param>
/// <param name="Warmup">Untimed rounds first.</param>
/// <param name="Variants">Which of <see cref="TrainStepBenchmark.VariantNames"/> to run (at least two).</param>
/// <param name="World">A world folder, or null for a small one written to a temp folder.</param>
/// <param name="BatchSize">Sequences per step (null: the stage's).</param>
/// <param name="MaxLength">Tokens per sequence (null: the stage's).</param>
/// <param name="Seed">Weights and the trainers' generators.</param>
/// <param name="MatmulSize">Side of the fp32 GEMM whose rate is the MFU's peak.</param>
/// <param name="Threads">torch intra-op threads for the run (null: as set).</param>
/// <param name="Placement">Device, and dtype of the frozen towers (null: CPU fp32).</param>
/// <param name="VaeCache">
/// Each variant keeps the frozen VAE's posteriors (<see cref="Deem.Diffusion.VaePosteriorCache"/>, its own per variant), as
/// training does: images the variant has stepped on before are not encoded again, and the VAE's FLOPs count only the
/// images encoded in the timed rounds. Off by default: every image is encoded, a first epoch's step.
/// </param>
public sealed record TrainStepBenchmarkOptions(string Preset = "tiny", int Pairs = 40, int Warmup = 3, IReadOnlyList<string>? Variants = null,
    string? World = null, int? BatchSize = null, int? MaxLength = null, int Seed = 0, int MatmulSize = 512, int? Threads = null,
    Placement? Placement = null, bool VaeCache = false);

/// <summary>One variant's figures over the timed rounds.</summary>
/// <param name="Name">Variant name.</param>
/// <param name="Trainable">Trainable parameters.</param>
/// <param name="StepSeconds">Every timed step, in round order.</param>
/// <param name="ModuleSeconds">Mean seconds per step per module (own time; "other" = the rest of the step).</param>
/// <param name="TrainingFlops">Mean training FLOPs per step per module.</param>
/// <param name="Threads">torch intra-op threads of its steps.</param>
public sealed record TrainStepVariantResult(string Name, long Trainable, IReadOnlyList<double> StepSeconds,
    IReadOnlyDictionary<string, double> ModuleSeconds, IReadOnlyDictionary<string, double> TrainingFlops, int Threads)
{
    public double Median => TrainStepBenchmark.Median(StepSeconds);
    public double Flops => TrainingFlops.Values.Sum();
}

/// <summary>The median over rounds of step(A) / step(B), and the quartiles of the per-round ratios.</summary>
public sealed record StepRatio(string A, string B, double Median, double Q1, double Q3);

/// <summary>All figures of one benchmark run.</summary>
/// <param name="Options">What was asked.</param>
/// <param name="Stage">The DEEM stage-1 config the variants derive from.</param>
/// <param name="Threads">torch's intra-op threads.</param>
/// <param name="Variants">Per variant, its step times, module times and FLOPs.</param>
/// <param name="Ratios">The per-round ratios' medians.</param>
/// <param name="MatmulGflops">fp32 GEMM rate measured before and after the steps, in this process, at the run's thread count.</param>
/// <param name="PeakByThreads">The better GEMM rate of the two measurements per thread count the variants use.</param>
public sealed record TrainStepBenchmarkResult(TrainStepBenchmarkOptions Options, StageConfig Stage, int Threads,
    IReadOnlyList<TrainStepVariantResult> Variants, IReadOnlyList<StepRatio> Ratios, (double Before, double After) MatmulGflops,
    IReadOnlyDictionary<int, double> PeakByThreads)
{
    /// <summary>Model FLOPs per median step over the peak GEMM rate at the variant's thread count.</summary>
    public double Mfu(TrainStepVariantResult v) => v.Flops / v.Median / (PeakByThreads[v.Threads] * 1e9);
}

/// <summary>
/// The cost of CSR (paper Table 3: a DEEM stage-1 step takes 1.14× the baseline's) on a shared, noisy
/// machine: every variant is a trainer over the same recorded batches, and the variants take turns
/// step by step (the order rotating each round), so a busy moment hits a round rather than a variant;
/// the ratios are medians of per-round ratios. Each step is cut into modules by <see cref="StepProfiler"/>,
/// its FLOPs counted by <see cref="StepFlops"/>, and the MFU taken against the fp32 GEMM rate of
/// <see cref="Doctor.MeasureMatmulGflops"/> measured in the same process.
/// </summary>
public static class TrainStepBenchmark
{
    public const string Fused = "csr-fused", Separate = "csr-separate", NoCsr = "no-csr", Baseline = "baseline";

    /// <summary>
    /// The variants: DEEM stage 1 with NIP and CSR fused (NIP over the images with context only) or in the
    /// authors' order (two VAE encodes and UNet calls, NIP over every image), the same recipe with
    /// λ_CSR = 0, and DEEM* (paper Table 3).
    /// </summary>
    public static IReadOnlyList<string> VariantNames { get; } = [Fused, Separate, NoCsr, Baseline];

    public const string WidePreset = "cpu-wide";

    /// <summary>
    /// A larger CPU DEEM for the step benchmark: the tiny one with every width doubled (ConvNeXt 32…128,
    /// 128-wide adapters and Q-Formers, a 4 × 256 LLaMA, a 64/128-channel UNet), on the same 64-px world.
    /// </summary>
    public static DeemConfig Wide
    {
        get
        {
            var t = WorldPresets.Tiny;
            const int llm = 256, vision = 128, cond = 128;
            return t with
            {
                Name = WidePreset,
                Vision = t.Vision with { Trunk = t.Vision.Trunk with { Dims = [32, 64, 96, 128] }, EmbedDim = vision },
                Perceiver = t.Perceiver with { HiddenSize = 128, EncoderHiddenSize = vision, IntermediateSize = 256 },
                Llm = t.Llm with { HiddenSize = llm, IntermediateSize = 688 },
                LlmMmfs = t.LlmMmfs with { DModel = llm, DQuery = llm, DOut = llm, DValue = vision },
                ImageDecoder = t.ImageDecoder with
                {
                    PerceiverConfig = t.ImageDecoder.PerceiverConfig with { EncoderHiddenSize = llm, HiddenSize = cond, IntermediateSize = 256 },
                },
                UNet = t.UNet with { BlockOutChannels = [64, 128], CrossAttentionDim = cond },
                MmfsNet = t.MmfsNet with { DValue = vision },
            };
        }
    }

    public static TrainStepBenchmarkResult Run(TrainStepBenchmarkOptions options, Action<string>? progress = null)
    {
        var model = options.Preset switch
        {
            "tiny" => WorldPresets.Tiny,
            WidePreset => Wide,
            var p => throw new DeemConfigException("--preset", "preset", $"the step benchmark runs on CPU: tiny or {WidePreset}, found '{p}'"),
        };
        var names = options.Variants ?? VariantNames;
        // A variant may carry its own thread count, "csr-fused@2": torch's intra-op threads are set for its steps only.
        static string Kind(string name) => name.Split('@')[0];
        static int? ThreadsOf(string name) => name.Contains('@') && int.TryParse(name.Split('@')[1], out var t) && t > 0 ? t : null;
        if (names.Count < 2 || names.Distinct().Count() != names.Count || names.Any(n => !VariantNames.Contains(Kind(n)) || (n.Contains('@') && ThreadsOf(n) is null)))
            throw new DeemConfigException("--variants", "variants",
                $"need two or more distinct of {string.Join(", ", VariantNames)} (each optionally @threads), found '{string.Join(",", names)}'");
        if (options.Pairs < 1 || options.Warmup < 0) throw new DeemConfigException("--pairs/--warmup", "pairs", "need --pairs ≥ 1 and --warmup ≥ 0");
        if (options.Threads is < 1) throw new DeemConfigException("--threads", "threads", $"must be ≥ 1, found {options.Threads}");
        if (options.Threads is int threads) set_num_threads(threads);

        StageConfig Shape(StageConfig c) => c with
        {
            BatchSize = options.BatchSize ?? c.BatchSize, MaxLength = options.MaxLength ?? c.MaxLength,
            // A constant LR past warm-up: every variant updates its weights at every timed step.
            Schedule = "constant", WarmupSteps = 0,
        };
        var deem = Shape(TrainingSetup.StageConfigFor("tiny", 1));
        var stages = new Dictionary<string, StageConfig>
        {
            [Fused] = deem, [Separate] = deem, [NoCsr] = deem with { CsrWeight = 0 },
            [Baseline] = Shape(TrainingSetup.StageConfigFor("tiny", 1, noCsr: true)),
        };

        string? temp = null;
        string root = options.World ?? (temp = Path.Combine(Path.GetTempPath(), "deem-bench-world-" + Guid.NewGuid().ToString("N")));
        var runs = new List<string>();
        var batches = new List<DeemBatch>();
        var variants = new List<(string Name, DeemModel Model, Trainer Trainer, StepProfiler Profiler, List<double> Times)>();
        try
        {
            if (temp is not null) WorldWriter.Make(temp, WorldOptions.Tiny with { ImageSize = deem.EncoderResolution });
            using (var stream = TrainingSetup.OpenStream(deem, DataPaths.FromWorld(root), WorldTokenizer.Default, model.ImageTokens, strict: false))
                for (int i = 0; i < options.Warmup + options.Pairs; i++) batches.Add(stream.Next());

            foreach (var name in names)
            {
                manual_seed(options.Seed);
                var stage = stages[Kind(name)];
                var m = new DeemModel(TrainingSetup.ModelConfigFor(model, stage), new Generator((ulong)options.Seed)) { FuseDiffusionTerms = Kind(name) != Separate, NipSkipsImagesWithoutContext = Kind(name) != Separate };
                string dir = Path.Combine(Path.GetTempPath(), "deem-bench-run-" + Guid.NewGuid().ToString("N"));
                runs.Add(dir);
                var trainer = new Trainer(m, WorldTokenizer.Default, stage, new ReplayStream(batches),
                    new TrainerOptions { OutDir = dir, Seed = options.Seed, TensorBoard = false, Placement = options.Placement ?? Placement.Default,
                        VaePosteriorCacheBytes = options.VaeCache ? VaePosteriorCache.DefaultCapacityBytes : 0 });
                m.train();
                variants.Add((name, m, trainer, new StepProfiler(), new List<double>()));
            }

            // (hits, misses) of a variant's posterior cache, read when the timed rounds start and end.
            static (long Hits, long Misses) Encodes(DeemModel m) => m.Diffusion?.PosteriorCache is { } c ? (c.Hits, c.Misses) : (0, 0);
            var cacheAtStart = variants.ToDictionary(v => v.Name, v => Encodes(v.Model));
            int defaultThreads = get_num_threads();
            // The report's before/after GEMM line is at the default count, also when every variant names its own.
            var threadCounts = variants.Select(v => ThreadsOf(v.Name) ?? defaultThreads).Prepend(defaultThreads).Distinct().ToList();
            Dictionary<int, double> Gemm() => threadCounts.ToDictionary(t => t, t =>
            {
                set_num_threads(t);
                try { return Doctor.MeasureMatmulGflops(options.MatmulSize, 1.0); }
                finally { set_num_threads(defaultThreads); }
            });
            var gemmBefore = Gemm();
            for (int round = 0; round < options.Warmup + options.Pairs; round++)
            {
                bool timed = round >= options.Warmup;
                for (int k = 0; k < variants.Count; k++)
                {
                    var v = variants[(round + k) % variants.Count];
                    int threadsBefore = get_num_threads();
                    if (ThreadsOf(v.Name) is int t) set_num_threads(t);
                    if (timed) StepProfiler.Start(v.Profiler);
                    try
                    {
                        var step = v.Trainer.TrainStep();
                        if (timed) v.Times.Add(step.StepSeconds);
                    }
                    finally
                    {
                        StepProfiler.Stop();
                        set_num_threads(threadsBefore);
                    }
                }
                if (round == options.Warmup - 1)
                    foreach (var v in variants)
                    {
                        v.Profiler.Reset();
                        cacheAtStart[v.Name] = Encodes(v.Model);
                    }
                progress?.Invoke(timed ? $"round {round - options.Warmup + 1}/{options.Pairs}" : $"warm-up {round + 1}/{options.Warmup}");
            }
            var gemmAfter = Gemm();

            var timedBatches = batches.Skip(options.Warmup).ToList();
            var results = variants.Select(v =>
            {
                int steps = v.Times.Count;
                var seconds = v.Profiler.Seconds.ToDictionary(kv => kv.Key, kv => kv.Value / steps, StringComparer.Ordinal);
                seconds["other"] = Math.Max(0, v.Times.Average() - seconds.Values.Sum());
                var stage = stages[Kind(v.Name)];
                var flops = new Dictionary<string, double>(StringComparer.Ordinal);
                foreach (var b in timedBatches)
                {
                    var shape = StepShape.Of(b.Ids, b.ImageCount, stage.EncoderResolution, stage.DecoderResolution, model.Tokens.Bos, model.Tokens.Soi);
                    if (Kind(v.Name) == Separate) shape = shape with { ImagesWithContext = null };           // the authors' NIP denoises every image
                    var forward = StepFlops.Forward(v.Model.Config, v.Model.Diffusion, shape, nip: stage.NipWeight > 0, csr: stage.CsrWeight > 0,
                        vaeEncodes: Kind(v.Name) == Separate ? 2 : 1);
                    foreach (var (k, f) in StepFlops.Training(forward)) flops[k] = flops.GetValueOrDefault(k) + f / timedBatches.Count;
                }
                // With the cache, the VAE encoded only the timed rounds' misses.
                var (end, start) = (Encodes(v.Model), cacheAtStart[v.Name]);
                long looked = end.Hits - start.Hits + end.Misses - start.Misses;
                if (looked > 0 && flops.ContainsKey(StepProfiler.Vae)) flops[StepProfiler.Vae] *= (double)(end.Misses - start.Misses) / looked;
                long trainable = v.Trainer.Groups.Sum(g => g.Parameters.Sum(p => p.Parameter.numel()));
                return new TrainStepVariantResult(v.Name, trainable, v.Times, seconds, flops, ThreadsOf(v.Name) ?? defaultThreads);
            }).ToList();

            var ratios = new List<StepRatio>();
            void Ratio(string a, string b)
            {
                var ra = results.FirstOrDefault(r => r.Name == a);
                var rb = results.FirstOrDefault(r => r.Name == b);
                if (ra is null || rb is null) return;
                var perRound = ra.StepSeconds.Zip(rb.StepSeconds, (x, y) => x / y).ToList();
                ratios.Add(new StepRatio(a, b, Median(perRound), Quantile(perRound, 0.25), Quantile(perRound, 0.75)));
            }
            Ratio(Fused, NoCsr);
            Ratio(Fused, Baseline);
            Ratio(Separate, NoCsr);
            Ratio(Separate, Baseline);
            Ratio(Fused, Separate);
            foreach (var name in names.Where(n => n.Contains('@'))) Ratio(name, Kind(name));
            foreach (var name in names.Where(n => n.Contains('@') && Kind(n) == Fused))
            {
                Ratio(name, NoCsr + name[name.IndexOf('@')..]);                                          // CSR's cost at that thread count
                Ratio(name, Baseline + name[name.IndexOf('@')..]);                                       // and DEEM / DEEM* there
            }
            return new TrainStepBenchmarkResult(options, deem, defaultThreads, results, ratios, (gemmBefore[defaultThreads], gemmAfter[defaultThreads]),
                threadCounts.ToDictionary(t => t, t => Math.Max(gemmBefore[t], gemmAfter[t])));
        }
        finally
        {
            foreach (var v in variants) { v.Trainer.Dispose(); v.Model.Dispose(); }
            foreach (var b in batches) b.Dispose();
            foreach (var dir in runs) if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            if (temp is not null && Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    public static double Median(IReadOnlyList<double> xs) => Quantile(xs, 0.5);

    /// <summary>Linear-interpolated quantile.</summary>
    public static double Quantile(IReadOnlyList<double> xs, double q)
    {
        var s = xs.OrderBy(x => x).ToArray();
        double pos = q * (s.Length - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, s.Length - 1);
        return s[lo] + (s[hi] - s[lo]) * (pos - lo);
    }
}
