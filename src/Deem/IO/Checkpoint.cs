namespace Deem.IO;

/// <summary>
/// Opens any checkpoint layout the published DEEM / open_clip / HF weights use, by its path:
/// a <c>.safetensors</c> file, a <c>*.index.json</c> sharded index, a folder holding either
/// <see cref="ShardedSafetensors.IndexFileName"/> or <see cref="ShardedSafetensors.SingleFileName"/>,
/// or a <c>torch.save</c> zip (<c>.bin</c>, <c>.pt</c>, <c>.pth</c>, read by <see cref="TorchCheckpoint"/>).
/// </summary>
public static class Checkpoint
{
    /// <summary>Opens <paramref name="fileOrFolder"/> for lazy tensor access; the caller disposes it.</summary>
    public static ICheckpointReader Open(string fileOrFolder)
    {
        if (Directory.Exists(fileOrFolder))
        {
            string index = Path.Combine(fileOrFolder, ShardedSafetensors.IndexFileName);
            if (File.Exists(index)) return ShardedSafetensors.Open(index);
            string single = Path.Combine(fileOrFolder, ShardedSafetensors.SingleFileName);
            if (File.Exists(single)) return SafetensorsFile.Open(single);
            throw new DeemFormatException(fileOrFolder,
                $"folder holds neither {ShardedSafetensors.IndexFileName} nor {ShardedSafetensors.SingleFileName}");
        }
        if (!File.Exists(fileOrFolder)) throw new DeemFormatException(fileOrFolder, "checkpoint not found");
        if (fileOrFolder.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return ShardedSafetensors.Open(fileOrFolder);
        string ext = Path.GetExtension(fileOrFolder).ToLowerInvariant();
        if (ext is ".bin" or ".pt" or ".pth" or ".ckpt")
            return new InMemoryCheckpoint(fileOrFolder, TorchCheckpoint.Load(fileOrFolder));
        return SafetensorsFile.Open(fileOrFolder);
    }
}
