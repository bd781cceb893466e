namespace Deem.Data.Images;

/// <summary>
/// Where one training image comes from and its random choices, small enough to store in a data
/// position (reference §5.1 packing buffers hold images; a resumed run rebuilds them from these):
/// a file path, or the encoded bytes of a webdataset entry (with the shard and key they came from),
/// plus the horizontal flip drawn for it.
/// </summary>
/// <param name="Source">The image file, or the shard for <paramref name="Bytes"/>.</param>
/// <param name="Key">The record key inside <paramref name="Source"/> (webdataset key), or null for a plain file.</param>
/// <param name="Bytes">Encoded image bytes when the image does not live in its own file; null otherwise.</param>
/// <param name="Flip">Whether both views are mirrored.</param>
public sealed record ImageRef(string Source, string? Key, byte[]? Bytes, bool Flip)
{
    /// <summary>A plain image file.</summary>
    public static ImageRef File(string path, bool flip = false) => new(path, null, null, flip);

    /// <summary>"file" or "shard 'key'" for messages.</summary>
    public string Describe() => Key is null ? Source : $"{Source} '{Key}'";
}
