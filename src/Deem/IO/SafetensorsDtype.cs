using static TorchSharp.torch;

namespace Deem.IO;

/// <summary>
/// The safetensors dtype names and their TorchSharp <see cref="ScalarType"/> (format spec:
/// huggingface/safetensors README "Format" and <c>safetensors/src/tensor.rs</c> enum <c>Dtype</c>).
/// All values are little-endian; BOOL is one byte per element.
/// </summary>
public static class SafetensorsDtype
{
    // (name, scalar type, bytes per element, rank in the Rust Dtype enum = alignment order).
    // The rank reproduces the Python/Rust writer's tensor order: descending rank, then name.
    static readonly (string Name, ScalarType Type, int Size, int Rank)[] Table =
    [
        ("BOOL", ScalarType.Bool, 1, 0),
        ("U8", ScalarType.Byte, 1, 1),
        ("I8", ScalarType.Int8, 1, 2),
        ("I16", ScalarType.Int16, 2, 5),
        ("F16", ScalarType.Float16, 2, 7),
        ("BF16", ScalarType.BFloat16, 2, 8),
        ("I32", ScalarType.Int32, 4, 9),
        ("F32", ScalarType.Float32, 4, 11),
        ("F64", ScalarType.Float64, 8, 12),
        ("I64", ScalarType.Int64, 8, 13),
    ];

    /// <summary>The dtype names this reader and writer support.</summary>
    public static IEnumerable<string> Supported => Table.Select(t => t.Name);

    /// <summary>Maps a safetensors dtype name to a scalar type; false if unsupported.</summary>
    public static bool TryParse(string name, out ScalarType type)
    {
        foreach (var t in Table)
            if (t.Name == name) { type = t.Type; return true; }
        type = default;
        return false;
    }

    /// <summary>The safetensors name of <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentException">The scalar type has no safetensors name here.</exception>
    public static string NameOf(ScalarType type)
    {
        foreach (var t in Table)
            if (t.Type == type) return t.Name;
        throw new ArgumentException($"dtype {type} cannot be stored in safetensors (supported: {string.Join(", ", Supported)})");
    }

    /// <summary>Bytes per element of <paramref name="type"/>.</summary>
    public static int SizeOf(ScalarType type)
    {
        foreach (var t in Table)
            if (t.Type == type) return t.Size;
        throw new ArgumentException($"dtype {type} is not supported by safetensors I/O");
    }

    /// <summary>Position in the Rust <c>Dtype</c> enum (increasing alignment); the writer sorts by it descending.</summary>
    public static int AlignmentRank(ScalarType type)
    {
        foreach (var t in Table)
            if (t.Type == type) return t.Rank;
        throw new ArgumentException($"dtype {type} is not supported by safetensors I/O");
    }
}
