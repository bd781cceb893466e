using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>Dtype and shape of one stored tensor, known before its bytes are read.</summary>
public sealed record TensorSpec(ScalarType Dtype, long[] Shape)
{
    /// <summary>Number of elements (1 for a scalar of shape []).</summary>
    public long NumElements => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>Shape as "[2, 3]" for messages.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A checkpoint whose tensors are listed up front and loaded one at a time on demand, so a
/// multi-GB checkpoint never sits whole in memory. Implemented by a single safetensors file
/// (<see cref="SafetensorsFile"/>), a sharded safetensors folder (<see cref="ShardedSafetensors"/>)
/// and an in-memory dictionary (<see cref="InMemoryCheckpoint"/>, e.g. from a torch.save file).
/// </summary>
public interface ICheckpointReader : IDisposable
{
    /// <summary>The file or folder this reader was opened on (used in error messages).</summary>
    string Path { get; }

    /// <summary>All tensor names, sorted ordinally.</summary>
    IReadOnlyList<string> Keys { get; }

    /// <summary>True when <paramref name="key"/> names a tensor here.</summary>
    bool Contains(string key);

    /// <summary>Dtype and shape of <paramref name="key"/> without reading its data.</summary>
    TensorSpec Spec(string key);

    /// <summary>A new contiguous CPU tensor holding <paramref name="key"/>; the caller owns it.</summary>
    Tensor Load(string key);
}

/// <summary>An <see cref="ICheckpointReader"/> over tensors already in memory (it owns and disposes them).</summary>
public sealed class InMemoryCheckpoint : ICheckpointReader
{
    readonly Dictionary<string, Tensor> _tensors;

    public InMemoryCheckpoint(string path, Dictionary<string, Tensor> tensors)
    {
        Path = path;
        _tensors = tensors;
        Keys = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
    }

    public string Path { get; }
    public IReadOnlyList<string> Keys { get; }
    public bool Contains(string key) => _tensors.ContainsKey(key);

    public TensorSpec Spec(string key) => new(Get(key).dtype, Get(key).shape);

    public Tensor Load(string key) => Get(key).clone();

    Tensor Get(string key) => _tensors.TryGetValue(key, out var t)
        ? t
        : throw new DeemFormatException(Path, "no such tensor in the checkpoint", key);

    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}
