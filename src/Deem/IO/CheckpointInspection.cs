using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>One stored tensor as <c>deem inspect</c> lists it.</summary>
/// <param name="Key">The tensor's name.</param>
/// <param name="Dtype">Its stored dtype.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Elements">Its element count.</param>
public sealed record TensorRow(string Key, ScalarType Dtype, long[] Shape, long Elements)
{
    /// <summary>Shape as "[2, 3]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// The keys, shapes, dtypes and parameter totals of any checkpoint the project reads: a safetensors file,
/// a sharded safetensors or sharded <c>.bin</c> index (or the folder holding it), a <c>torch.save</c> zip
/// (<c>.bin</c>/<c>.pt</c>/<c>.pth</c>), a DEEM model folder, an HF LLaMA folder, a diffusers model folder, or a
/// folder of such folders (a diffusers pipeline: <c>unet/</c>, <c>vae/</c>, <c>text_encoder/</c>), whose keys are
/// then listed under the sub-folder's name (<c>unet/conv_in.weight</c>).
/// </summary>
/// <param name="Path">What was opened.</param>
/// <param name="Tensors">Every tensor, in key order.</param>
/// <param name="Parameters">Elements over all tensors.</param>
/// <param name="Bytes">Stored bytes over all tensors.</param>
/// <param name="ByDtype">Elements per dtype.</param>
/// <param name="ByPrefix">Elements per first key segment (e.g. <c>mm_decoder</c>, <c>visual_tokenizer</c>).</param>
public sealed record CheckpointInspection(string Path, IReadOnlyList<TensorRow> Tensors, long Parameters, long Bytes,
    IReadOnlyDictionary<ScalarType, long> ByDtype, IReadOnlyDictionary<string, long> ByPrefix)
{
    static readonly string[] DiffusersFiles =
        ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.bin"];

    /// <summary>Lists <paramref name="fileOrFolder"/>'s tensors without loading their data where the format allows.</summary>
    public static CheckpointInspection Run(string fileOrFolder)
    {
        if (Directory.Exists(fileOrFolder) && !HoldsWeights(fileOrFolder))
        {
            var parts = Directory.GetDirectories(fileOrFolder).Order(StringComparer.Ordinal).Where(HoldsWeights).ToList();
            if (parts.Count == 0) return Summarise(fileOrFolder, Rows(fileOrFolder));   // the reader's error names what is missing
            return Summarise(fileOrFolder, parts.SelectMany(d => Rows(d).Select(r => r with { Key = System.IO.Path.GetFileName(d) + "/" + r.Key })).ToList());
        }
        return Summarise(fileOrFolder, Rows(fileOrFolder));
    }

    static bool HoldsWeights(string folder) =>
        DiffusersFiles.Concat([ShardedSafetensors.IndexFileName, ShardedSafetensors.SingleFileName, ShardedTorchCheckpoint.IndexFileName,
            "pytorch_model.bin", "open_clip_pytorch_model.bin"]).Any(f => File.Exists(System.IO.Path.Combine(folder, f)));

    static List<TensorRow> Rows(string fileOrFolder)
    {
        string path = fileOrFolder;
        if (Directory.Exists(path) && DiffusersFiles.Select(f => System.IO.Path.Combine(path, f)).FirstOrDefault(File.Exists) is { } diffusers)
            path = diffusers;
        using var source = Checkpoint.Open(path);
        var keys = source is ShardedTorchCheckpoint torchShards ? torchShards.KeysByShard : source.Keys;
        return keys.Select(k => { var s = source.Spec(k); return new TensorRow(k, s.Dtype, s.Shape, s.NumElements); })
            .OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
    }

    static CheckpointInspection Summarise(string path, List<TensorRow> rows) =>
        new(path, rows, rows.Sum(r => r.Elements),
            rows.Sum(r => r.Elements * SafetensorsDtype.SizeOf(r.Dtype)),
            rows.GroupBy(r => r.Dtype).ToDictionary(g => g.Key, g => g.Sum(r => r.Elements)),
            rows.GroupBy(r => r.Key.Split('/', '.')[0]).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(r => r.Elements)));
}
