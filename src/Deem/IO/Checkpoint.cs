namespace Deem.IO;

/// <summary>
/// Opens any checkpoint layout the published DEEM / open_clip / HF weights use, by its path:
/// a <c>.safetensors</c> file, a <c>*.index.json</c> sharded index, a folder holding
/// <see cref="ShardedSafetensors.IndexFileName"/>, <see cref="ShardedSafetensors.SingleFileName"/>
/// <see cref="ShardedTorchCheckpoint.IndexFileName"/> (sharded .bin) or a single <c>pytorch_model.bin</c> / <c>open_clip_pytorch_model.bin</c>,
/// or a <c>torch.save</c> zip (<c>.bin</c>, <c>.pt</c>, <c>.pth</c>, read by <see cref="TorchCheckpoint"/>).
/// </summary>
public static class Checkpoint
{
    /// <summary>torch.save file names looked for in a folder when it has no safetensors (HF, open_clip).</summary>
    static readonly string[] TorchFileNames = ["pytorch_model.bin", "open_clip_pytorch_model.bin"];

    /// <summary>Opens <paramref name="fileOrFolder"/> for lazy tensor access; the caller disposes it.</summary>
    public static ICheckpointReader Open(string fileOrFolder)
    {
        if (Directory.Exists(fileOrFolder))
        {
            string index = Path.Combine(fileOrFolder, ShardedSafetensors.IndexFileName);
            if (File.Exists(index)) return ShardedSafetensors.Open(index);
            string single = Path.Combine(fileOrFolder, ShardedSafetensors.SingleFileName);
            if (File.Exists(single)) return SafetensorsFile.Open(single);
            string torchIndex = Path.Combine(fileOrFolder, ShardedTorchCheckpoint.IndexFileName);
            if (File.Exists(torchIndex)) return ShardedTorchCheckpoint.Open(torchIndex);
            foreach (var name in TorchFileNames)
            {
                string bin = Path.Combine(fileOrFolder, name);
                if (File.Exists(bin)) return new InMemoryCheckpoint(bin, TorchCheckpoint.Load(bin));
            }
            throw new DeemFormatException(fileOrFolder,
                $"folder holds none of {ShardedSafetensors.IndexFileName}, {ShardedSafetensors.SingleFileName}, {string.Join(", ", TorchFileNames)}");
        }
        if (!File.Exists(fileOrFolder)) throw new DeemFormatException(fileOrFolder, "checkpoint not found");
        if (fileOrFolder.EndsWith(".bin.index.json", StringComparison.OrdinalIgnoreCase)) return ShardedTorchCheckpoint.Open(fileOrFolder);
        if (fileOrFolder.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return ShardedSafetensors.Open(fileOrFolder);
        string ext = Path.GetExtension(fileOrFolder).ToLowerInvariant();
        if (ext is ".bin" or ".pt" or ".pth" or ".ckpt")
            return new InMemoryCheckpoint(fileOrFolder, TorchCheckpoint.Load(fileOrFolder));
        return SafetensorsFile.Open(fileOrFolder);
    }
}
