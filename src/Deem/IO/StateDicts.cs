using TorchSharp;
using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>What to do when a checkpoint tensor's dtype differs from the module's parameter.</summary>
public enum DtypeHandling
{
    /// <summary>Convert to the parameter's dtype (e.g. a BF16 checkpoint into F32 params); listed in <see cref="LoadReport.Converted"/>.</summary>
    CastToParameter,

    /// <summary>Any dtype difference is a <see cref="DeemFormatException"/> naming every such key.</summary>
    RequireMatch,
}

/// <summary>Outcome of a state-dict load; every list is sorted ordinally.</summary>
/// <param name="Loaded">Module keys filled from the checkpoint.</param>
/// <param name="Missing">Module keys the checkpoint lacks (left untouched).</param>
/// <param name="Unexpected">Checkpoint keys (after prefix stripping) the module lacks (ignored).</param>
/// <param name="Converted">Loaded keys whose dtype was converted to the parameter's.</param>
public sealed record LoadReport(
    IReadOnlyList<string> Loaded,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<string> Converted);

/// <summary>
/// Moves TorchSharp module state (parameters and persistent buffers, keyed exactly as
/// <c>state_dict()</c> names them, which equal the published checkpoints' keys) to and from
/// checkpoints. Mirrors PyTorch <c>Module.load_state_dict(strict=...)</c>: strict loading fails on
/// any missing or unexpected key; a shape mismatch fails even when not strict. All checks run
/// before any parameter is written, so a failed load leaves the module unchanged. Tensors are read
/// one at a time, so peak extra memory is one tensor.
/// </summary>
public static class StateDicts
{
    /// <summary>
    /// Saves <paramref name="module"/>'s state dict. Without <paramref name="maxShardBytes"/>,
    /// <paramref name="path"/> is one <c>.safetensors</c> file; with it, <paramref name="path"/> is a
    /// folder written by <see cref="ShardedSafetensors.Write"/>.
    /// </summary>
    public static void Save(nn.Module module, string path, IReadOnlyDictionary<string, string>? metadata = null,
        long? maxShardBytes = null)
    {
        var sd = module.state_dict();
        if (maxShardBytes is long max) ShardedSafetensors.Write(path, sd, max, metadata);
        else SafetensorsWriter.Write(path, sd, metadata);
    }

    /// <summary>
    /// Loads a checkpoint (any layout <see cref="Checkpoint.Open"/> accepts) into <paramref name="module"/>,
    /// requiring the key sets to match exactly (after the <paramref name="prefix"/> filter).
    /// </summary>
    /// <param name="module">Receives the tensors in place.</param>
    /// <param name="fileOrFolder">A safetensors file, sharded folder/index, or torch.save zip.</param>
    /// <param name="dtype">How a dtype difference is handled.</param>
    /// <param name="prefix">When set, only checkpoint keys starting with it are used, with it stripped
    /// (e.g. "visual." loads <c>visual.trunk.*</c> into a module whose keys are <c>trunk.*</c>).</param>
    public static LoadReport LoadStrict(nn.Module module, string fileOrFolder, string? prefix = null,
        DtypeHandling dtype = DtypeHandling.CastToParameter)
    {
        using var source = Checkpoint.Open(fileOrFolder);
        return Load(module, source, prefix, dtype, strict: true);
    }

    /// <summary>
    /// Non-strict load (PyTorch <c>strict=False</c>, as DEEM loads stage checkpoints): fills the keys both
    /// sides share and returns the missing and unexpected lists. Shape mismatches still fail.
    /// </summary>
    public static LoadReport LoadNonStrict(nn.Module module, string fileOrFolder, string? prefix = null,
        DtypeHandling dtype = DtypeHandling.CastToParameter)
    {
        using var source = Checkpoint.Open(fileOrFolder);
        return Load(module, source, prefix, dtype, strict: false);
    }

    /// <summary>Loads from an open checkpoint; see <see cref="LoadStrict"/> and <see cref="LoadNonStrict"/>.</summary>
    public static LoadReport Load(nn.Module module, ICheckpointReader source, string? prefix, DtypeHandling dtype, bool strict)
    {
        var target = module.state_dict();
        // Checkpoint key (after stripping) -> key in the file.
        var available = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var k in source.Keys)
        {
            if (prefix is null) available[k] = k;
            else if (k.StartsWith(prefix, StringComparison.Ordinal)) available[k[prefix.Length..]] = k;
        }

        var missing = Sorted(target.Keys.Where(k => !available.ContainsKey(k)));
        var unexpected = Sorted(available.Keys.Where(k => !target.ContainsKey(k)));
        var shared = Sorted(target.Keys.Where(available.ContainsKey));

        var problems = new List<string>();
        if (strict && missing.Count > 0) problems.Add($"missing keys ({missing.Count}): {string.Join(", ", missing)}");
        if (strict && unexpected.Count > 0) problems.Add($"unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected)}");

        var shapeErrors = new List<string>();
        var dtypeErrors = new List<string>();
        var converted = new List<string>();
        foreach (var k in shared)
        {
            var spec = source.Spec(available[k]);
            var dst = target[k];
            if (!spec.Shape.SequenceEqual(dst.shape))
                shapeErrors.Add($"{k} (checkpoint {spec.ShapeText} vs module {new TensorSpec(dst.dtype, dst.shape).ShapeText})");
            else if (spec.Dtype != dst.dtype)
            {
                if (dtype == DtypeHandling.RequireMatch) dtypeErrors.Add($"{k} (checkpoint {spec.Dtype} vs module {dst.dtype})");
                else converted.Add(k);
            }
        }
        if (shapeErrors.Count > 0) problems.Add($"shape mismatch ({shapeErrors.Count}): {string.Join(", ", shapeErrors)}");
        if (dtypeErrors.Count > 0) problems.Add($"dtype mismatch ({dtypeErrors.Count}): {string.Join(", ", dtypeErrors)}");
        if (problems.Count > 0)
        {
            string where = prefix is null ? "" : $" (keys under prefix '{prefix}', stripped)";
            throw new DeemFormatException(source.Path, $"state dict does not fit the module{where}: {string.Join("; ", problems)}");
        }

        using (torch.no_grad())
        {
            foreach (var k in shared)
            {
                using var src = source.Load(available[k]);
                var dst = target[k];
                if (src.dtype == dst.dtype && src.device == dst.device) dst.copy_(src);
                else
                {
                    using var cast = src.to(dst.dtype, dst.device); // explicit conversion, reported in Converted
                    dst.copy_(cast);
                }
            }
        }
        return new LoadReport(shared, missing, unexpected, converted);
    }

    static List<string> Sorted(IEnumerable<string> keys) => keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
}
