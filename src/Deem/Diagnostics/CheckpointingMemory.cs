using System.Diagnostics;
using System.Runtime.InteropServices;
using Deem.Config;
using Deem.Diffusion;
using Deem.Language;
using Deem.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diagnostics;

/// <summary>Sizes of the two models <see cref="CheckpointingMemory"/> measures.</summary>
/// <param name="Width">LLaMA hidden size (heads of 64).</param>
/// <param name="Layers">LLaMA decoder layers.</param>
/// <param name="Length">Tokens per sequence.</param>
/// <param name="Batch">Sequences (LLaMA) and latents (UNet) per step.</param>
/// <param name="UNetChannels">Channels of the UNet's first block (the second has twice as many).</param>
/// <param name="UNetSide">Latent side.</param>
/// <param name="Seed">Seed of the weights and inputs.</param>
public sealed record CheckpointingMemoryOptions(int Width = 512, int Layers = 8, int Length = 512, int Batch = 2,
    int UNetChannels = 64, int UNetSide = 32, int Seed = 0);

/// <summary>One forward+backward of one model with checkpointing off or on.</summary>
/// <param name="Model">"llama" or "unet".</param>
/// <param name="Checkpointing">Whether its blocks were recomputed in backward.</param>
/// <param name="HeldAfterForward">Heap bytes allocated between the start and the end of the forward: what autograd keeps for backward (-1 off Linux).</param>
/// <param name="PeakRss">Peak resident bytes over forward and backward above the resident bytes before it (-1 off Linux).</param>
/// <param name="Seconds">Wall time of forward and backward.</param>
/// <param name="Recomputes">Blocks recomputed in backward.</param>
/// <param name="Loss">The loss, equal with and without checkpointing.</param>
public sealed record CheckpointingMemoryRow(string Model, bool Checkpointing, long HeldAfterForward, long PeakRss, double Seconds, long Recomputes, double Loss);

/// <summary>
/// What activation checkpointing saves: a widened tiny LLaMA and UNet, one forward+backward each with
/// checkpointing off and on, measured by glibc's count of allocated bytes (tensors of 64 KiB and more
/// are mapped one by one, so the count is exact for them) and the kernel's peak resident size.
/// </summary>
public static class CheckpointingMemory
{
    /// <summary>Runs the four measurements (each model off, then on, after one unmeasured warm-up step).</summary>
    /// <param name="options">Model sizes.</param>
    /// <param name="progress">Called with a line before each measurement; null for none.</param>
    public static IReadOnlyList<CheckpointingMemoryRow> Run(CheckpointingMemoryOptions options, Action<string>? progress = null)
    {
        if (options.Width % 64 != 0 || options.Width <= 0) throw new DeemConfigException("--width", "width", $"must be a positive multiple of 64, found {options.Width}");
        if (options.Layers <= 0 || options.Length <= 0 || options.Batch <= 0 || options.UNetSide <= 0 || options.UNetSide % 2 != 0)
            throw new DeemConfigException("--layers/--length/--batch/--unet-side", "size", "must be > 0 (the latent side even)");
        if (options.UNetChannels <= 0 || options.UNetChannels % 8 != 0)
            throw new DeemConfigException("--unet-channels", "unet_channels", $"must be a positive multiple of 8, found {options.UNetChannels}");
        Heap.FixMmapThreshold();
        manual_seed(options.Seed);                                       // the UNet initialises from the global generator
        var rows = new List<CheckpointingMemoryRow>();
        var gen = new Generator((ulong)options.Seed);

        var llmConfig = LlamaConfig.Tiny with
        {
            HiddenSize = options.Width, IntermediateSize = options.Width * 8 / 3, NumHiddenLayers = options.Layers,
            NumAttentionHeads = options.Width / 64, NumKeyValueHeads = options.Width / 64, CrossAttentionFrequency = 0,
        };
        using (var llm = new LlamaModel(llmConfig, null, gen))
        {
            var embeds = randn([options.Batch, options.Length, options.Width], generator: gen).requires_grad_(true);
            Tensor Loss() => llm.forward(new LlamaModelInput(InputsEmbeds: embeds)).pow(2).mean();
            rows.AddRange(Measure("llama", llm, on => llm.GradientCheckpointing = on, Loss, progress));
        }

        var unetConfig = UNetConfig.Tiny with
        {
            BlockOutChannels = [options.UNetChannels, 2 * options.UNetChannels], SampleSize = options.UNetSide, AttentionHeadDim = [8],
        };
        using (var unet = new UNet2DConditionModel(unetConfig))
        {
            var x = randn([options.Batch, 4, options.UNetSide, options.UNetSide], generator: gen);
            var c = randn([options.Batch, 77, unetConfig.CrossAttentionDim], generator: gen).requires_grad_(true);
            var t = tensor(Enumerable.Range(0, options.Batch).Select(i => 100L + 37 * i).ToArray());
            Tensor Loss() => unet.forward(new UNet2DConditionInput(x, t, c)).pow(2).mean();
            rows.AddRange(Measure("unet", unet, on => unet.GradientCheckpointing = on, Loss, progress));
        }
        return rows;
    }

    static IEnumerable<CheckpointingMemoryRow> Measure(string name, nn.Module model, Action<bool> setCheckpointing, Func<Tensor> loss,
        Action<string>? progress)
    {
        model.train();
        setCheckpointing(false);
        Step(model, loss);                                                // warm-up: allocator and thread pools settle
        foreach (var on in new[] { false, true })
        {
            progress?.Invoke($"{name}, checkpointing {(on ? "on" : "off")}");
            setCheckpointing(on);
            yield return Step(model, loss) with { Model = name, Checkpointing = on };
        }
        setCheckpointing(false);
    }

    static CheckpointingMemoryRow Step(nn.Module model, Func<Tensor> loss)
    {
        foreach (var p in model.parameters()) { var g = p.grad; p.grad = null; g?.Dispose(); }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapBefore = Heap.Allocated(), rssBefore = Heap.ResetPeakResident();
        long recomputesBefore = ActivationCheckpoint.RecomputesOnThisThread;
        var clock = Stopwatch.StartNew();
        long held;
        double value;
        using (NewDisposeScope())
        {
            var l = loss();
            held = heapBefore < 0 ? -1 : Heap.Allocated() - heapBefore;
            l.backward();
            value = l.item<float>();
        }
        double seconds = clock.Elapsed.TotalSeconds;
        long peak = rssBefore < 0 ? -1 : Heap.PeakResident() - rssBefore;
        return new CheckpointingMemoryRow("", false, held, peak, seconds, ActivationCheckpoint.RecomputesOnThisThread - recomputesBefore, value);
    }

    /// <summary>glibc's allocation counters and the kernel's resident-size peak (Linux; -1 elsewhere).</summary>
    static class Heap
    {
        [StructLayout(LayoutKind.Sequential)]
        struct MallInfo2
        {
            public nuint Arena, OrdBlks, SmBlks, HBlks, HBlkHd, UsmBlks, FsmBlks, UordBlks, FordBlks, KeepCost;
        }

        [DllImport("libc", EntryPoint = "mallinfo2")] static extern MallInfo2 MallInfo();
        [DllImport("libc", EntryPoint = "mallopt")] static extern int MallOpt(int param, int value);
        const int M_MMAP_THRESHOLD = -3;

        /// <summary>Maps every allocation of 64 KiB or more on its own (glibc otherwise raises the threshold as blocks are freed).</summary>
        public static void FixMmapThreshold()
        {
            if (OperatingSystem.IsLinux()) MallOpt(M_MMAP_THRESHOLD, 64 * 1024);
        }

        /// <summary>Bytes in mapped blocks plus bytes in use in the main arena.</summary>
        public static long Allocated()
        {
            if (!OperatingSystem.IsLinux()) return -1;
            var m = MallInfo();
            return (long)m.HBlkHd + (long)m.UordBlks;
        }

        /// <summary>Resets the kernel's peak resident size to the current one and returns it.</summary>
        public static long ResetPeakResident()
        {
            if (!OperatingSystem.IsLinux()) return -1;
            try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { return -1; } catch (UnauthorizedAccessException) { return -1; }
            return Status("VmRSS:");
        }

        public static long PeakResident() => OperatingSystem.IsLinux() ? Status("VmHWM:") : -1;

        static long Status(string field)
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0]) * 1024;
            return -1;
        }
    }
}
