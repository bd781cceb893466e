using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// The image features the LLM's gated MMFS cross-attention layers read (reference §1.6): for each
/// sequence, the multi-scale maps of the images in it, flattened per image and concatenated over
/// levels, plus which token may see which image (images earlier in the same document only).
/// </summary>
/// <param name="Values">[B, N, S, Dv]: N image slots per sequence (zero-padded), S = Σ_l H_l·W_l, Dv = image_embed_dim.</param>
/// <param name="SpatialShapes">(H_l, W_l) of each level, in the order they are concatenated in S.</param>
/// <param name="Visible">[B, L, N] bool: token l may attend to image n.</param>
public sealed record MmfsVisionStates(Tensor Values, (long H, long W)[] SpatialShapes, Tensor Visible)
{
    /// <summary>The same images seen from a window of query rows [start, start+length) of <see cref="Visible"/>.</summary>
    public MmfsVisionStates SliceQueries(long start, long length) =>
        this with { Visible = Visible.narrow(1, start, length) };
}

/// <summary>Input of one gated MMFS cross-attention block: the decoder hidden states and the vision states.</summary>
/// <param name="Hidden">[B, L, D] decoder hidden states (before the block).</param>
/// <param name="Vision">The images' multi-scale values and which query rows may see which image.</param>
public sealed record LlamaCrossAttentionInput(Tensor Hidden, MmfsVisionStates Vision);
