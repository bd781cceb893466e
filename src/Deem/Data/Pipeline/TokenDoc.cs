using Deem.Data.Images;

namespace Deem.Data.Pipeline;

/// <summary>An image waiting in a packing buffer: where it came from (for data positions) and its two views.</summary>
public sealed record BufferedImage(ImageRef Ref, ImagePair Pixels);

/// <summary>
/// One processed stage-1 document (reference §5.1): ids with BOS first and <c>&lt;/s&gt;</c> last, each
/// image as a block soi + N × placeholder, and the images in the order of their soi tokens.
/// </summary>
public sealed record TokenDoc(int[] Ids, IReadOnlyList<BufferedImage> Images);

/// <summary>One packed sequence (≤ max_length ids) cut from a packing buffer, its images in soi order.</summary>
public sealed record PackedSequence(int[] Ids, IReadOnlyList<BufferedImage> Images);
