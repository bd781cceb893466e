using System.Globalization;
using Deem.IO;
using Deem.Model;
using Deem.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Training;

/// <summary>
/// A resumable training checkpoint (reference §3: the authors save every 2000 steps and resume
/// through the HF Trainer). One folder per save, <c>{run}/checkpoints/step-0000100/</c>:
/// <code>
///   deem_config.json, tokenizer.vocab, model.safetensors   a DEEM model folder (<see cref="DeemCheckpoint"/>)
///   optimizer.safetensors    AdamW state per trainable parameter: {name}.exp_avg, {name}.exp_avg_sq, {name}.step
///   trainer_state.json       step, stage config, random states, data position, skip counts, versions (<see cref="TrainerState"/>)
/// </code>
/// Every file is written atomically (temp + rename), the weights first and the sidecar last, so a folder
/// is a checkpoint only when <c>trainer_state.json</c> exists; <see cref="FindLatest"/> ignores the rest.
/// </summary>
public static class TrainingCheckpoint
{
    public const string StateFile = "trainer_state.json";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string Folder = "checkpoints";

    /// <summary>The folder of the checkpoint at <paramref name="step"/> under a run folder.</summary>
    public static string PathFor(string runDir, int step) =>
        Path.Combine(runDir, Folder, "step-" + step.ToString("D7", CultureInfo.InvariantCulture));

    /// <summary>True when <paramref name="folder"/> holds a finished checkpoint (its sidecar exists).</summary>
    public static bool IsComplete(string folder) => File.Exists(Path.Combine(folder, StateFile));

    /// <summary>Writes a checkpoint: model folder, optimiser state, then the sidecar.</summary>
    public static void Save(string folder, DeemModel model, ITextTokenizer tokenizer, IReadOnlyList<OptimizerGroup> groups,
        optim.Optimizer optimizer, TrainerState state)
    {
        using var scope = NewDisposeScope();
        Save(folder, model, tokenizer, OptimizerTensors(groups, optimizer), state);
    }

    /// <summary>
    /// Writes a checkpoint whose optimiser state is given by name ({name}.exp_avg, .exp_avg_sq, .step; e.g.
    /// ZeRO-1's gathered shards): model folder, optimiser state, then the sidecar. A write the disk refuses
    /// (full, read-only) removes the unfinished folder and is a <see cref="DeemStorageException"/> naming it;
    /// the checkpoints written before stay complete.
    /// </summary>
    public static void Save(string folder, DeemModel model, ITextTokenizer tokenizer, IReadOnlyDictionary<string, Tensor> optimizerState, TrainerState state)
    {
        try
        {
            Directory.CreateDirectory(folder);
            // A sidecar from an earlier save of the same step must not vouch for files being replaced now.
            File.Delete(Path.Combine(folder, StateFile));
            var metadata = new Dictionary<string, string> { ["step"] = state.Step.ToString(CultureInfo.InvariantCulture), ["stage"] = state.Stage.Name };
            DeemCheckpoint.Save(folder, model, tokenizer, metadata);
            SafetensorsWriter.Write(Path.Combine(folder, OptimizerFile), optimizerState, metadata);
            AtomicFile.WriteAllText(Path.Combine(folder, StateFile), state.ToJson());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { Directory.Delete(folder, recursive: true); } catch (Exception) { /* the next start removes it */ }
            throw new DeemStorageException(folder, $"cannot write the checkpoint ({e.Message.TrimEnd('.')}); the earlier checkpoints are kept", e);
        }
    }

    /// <summary>
    /// Removes what a killed run left under <paramref name="runDir"/>: <c>step-*</c> folders without a
    /// sidecar (a save or a prune interrupted) and atomic-write temp files (<c>*.tmp-{pid}-{guid}</c>) whose
    /// writing process is gone, in the run folder and its checkpoint folders only. Returns what it removed.
    /// </summary>
    public static IReadOnlyList<string> CleanLeftovers(string runDir)
    {
        var removed = new List<string>();
        if (!Directory.Exists(runDir)) return removed;
        string root = Path.Combine(runDir, Folder);
        var steps = Directory.Exists(root) ? Directory.GetDirectories(root, "step-*") : [];
        foreach (var d in steps.Where(d => !IsComplete(d)))
        {
            Directory.Delete(d, recursive: true);
            removed.Add(d);
        }
        foreach (var dir in steps.Where(Directory.Exists).Prepend(root).Prepend(runDir).Where(Directory.Exists))
            foreach (var f in Directory.GetFiles(dir, "*.tmp-*").Where(AtomicFile.IsOrphanedTemp))
            {
                File.Delete(f);
                removed.Add(f);
            }
        return removed;
    }

    /// <summary>Reads the sidecar of a complete checkpoint.</summary>
    public static TrainerState LoadState(string folder)
    {
        string path = Path.Combine(folder, StateFile);
        if (!File.Exists(path)) throw new DeemFormatException(folder, $"not a complete training checkpoint: {StateFile} is missing");
        return TrainerState.Parse(File.ReadAllText(path), path);
    }

    /// <summary>
    /// The checkpoint to resume from: <paramref name="dir"/> itself when it is a complete checkpoint, else
    /// the complete checkpoint with the highest step under <c>{dir}/checkpoints/</c>.
    /// </summary>
    public static string FindLatest(string dir)
    {
        if (!Directory.Exists(dir)) throw new DeemFormatException(dir, "resume folder not found");
        return TryFindLatest(dir)
            ?? throw new DeemFormatException(dir, $"no complete checkpoint to resume from (a folder with {StateFile}, or {Folder}/step-*/ holding one)");
    }

    /// <summary>As <see cref="FindLatest"/>, or null when <paramref name="dir"/> is missing or holds no complete checkpoint.</summary>
    public static string? TryFindLatest(string dir)
    {
        if (!Directory.Exists(dir)) return null;
        if (IsComplete(dir)) return dir;
        string root = Path.Combine(dir, Folder);
        var candidates = Directory.Exists(root)
            ? Directory.GetDirectories(root, "step-*").Where(IsComplete)
                .Select(d => (Dir: d, Step: int.TryParse(Path.GetFileName(d)["step-".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : -1))
                .Where(c => c.Step >= 0).OrderBy(c => c.Step).ToList()
            : [];
        return candidates.Count > 0 ? candidates[^1].Dir : null;
    }

    /// <summary>Deletes the oldest complete checkpoints of a run beyond the newest <paramref name="keep"/>.</summary>
    public static void Prune(string runDir, int keep)
    {
        string root = Path.Combine(runDir, Folder);
        if (keep <= 0 || !Directory.Exists(root)) return;
        var complete = Directory.GetDirectories(root, "step-*").Where(IsComplete).OrderBy(d => d, StringComparer.Ordinal).ToList();
        foreach (var d in complete.Take(Math.Max(0, complete.Count - keep)))
        {
            File.Delete(Path.Combine(d, StateFile));  // no longer a checkpoint, even if the delete below is interrupted
            Directory.Delete(d, recursive: true);
        }
    }

    static IEnumerable<(string Name, Parameter Parameter, AdamW.State State)> States(IReadOnlyList<OptimizerGroup> groups, optim.Optimizer optimizer)
    {
        if (optimizer is not OptimizerHelper helper) throw new ArgumentException("the optimiser keeps no managed state", nameof(optimizer));
        var states = helper.state_dict().State;
        var named = groups.SelectMany(g => g.Parameters).ToList();
        if (states.Count != named.Count)
            throw new ArgumentException($"optimiser has {states.Count} parameter states, the groups list {named.Count}", nameof(groups));
        return named.Select((p, i) => (p.Name, p.Parameter, states[i] as AdamW.State
            ?? throw new ArgumentException("optimiser is not AdamW", nameof(optimizer))));
    }

    static Dictionary<string, Tensor> OptimizerTensors(IReadOnlyList<OptimizerGroup> groups, optim.Optimizer optimizer)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, _, s) in States(groups, optimizer))
        {
            tensors[name + ".exp_avg"] = s.exp_avg;
            tensors[name + ".exp_avg_sq"] = s.exp_avg_sq;
            tensors[name + ".step"] = tensor(s.step);
        }
        return tensors;
    }

    /// <summary>Fills the optimiser's AdamW state from <c>optimizer.safetensors</c>; every trainable parameter must be there with its shape.</summary>
    public static void LoadOptimizer(string folder, IReadOnlyList<OptimizerGroup> groups, optim.Optimizer optimizer)
    {
        string path = Path.Combine(folder, OptimizerFile);
        if (!File.Exists(path)) throw new DeemFormatException(path, "optimizer state not found");
        using var file = SafetensorsFile.Open(path);
        var states = States(groups, optimizer).ToList();
        var missing = states.Where(s => !file.Contains(s.Name + ".exp_avg")).Select(s => s.Name).ToList();
        if (missing.Count > 0)
            throw new DeemFormatException(path, $"no optimizer state for {missing.Count} trainable parameters (was the checkpoint written by another stage?): {string.Join(", ", missing.Take(5))}");
        int expected = states.Count * 3;
        if (file.Keys.Count != expected)
            throw new DeemFormatException(path, $"holds {file.Keys.Count} tensors, the trainable parameters need {expected}");
        using var noGrad = no_grad();
        foreach (var (name, p, s) in states)
        {
            using var avg = file.Load(name + ".exp_avg");
            using var sq = file.Load(name + ".exp_avg_sq");
            using var step = file.Load(name + ".step");
            if (!avg.shape.SequenceEqual(p.shape) || !sq.shape.SequenceEqual(p.shape))
                throw new DeemFormatException(path, $"state shape [{string.Join(", ", avg.shape)}] vs parameter [{string.Join(", ", p.shape)}]", name);
            s.exp_avg.copy_(avg);
            s.exp_avg_sq.copy_(sq);
            s.step = step.item<long>();
        }
    }
}
