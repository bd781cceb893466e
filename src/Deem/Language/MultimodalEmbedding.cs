using Deem.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Language;

/// <summary>
/// Builds the LLM's input embeddings of an interleaved sequence (reference §1.5, paper §2): the
/// text embeddings with every image-placeholder position (<c>&lt;|sniffer|&gt;</c>) overwritten, in
/// row-major (batch, position) order, by the rows of the visual tokens flattened over images — image k
/// of the batch fills the k-th run of Nq placeholders — and the learned <c>soi_token</c> vector
/// ADDED at every <c>&lt;|startofimage|&gt;</c> position.
/// </summary>
public static class MultimodalEmbedding
{
    /// <summary>A learnable soi vector of width <paramref name="hiddenSize"/>, zeros at init (DEEM key <c>soi_token</c>).</summary>
    public static Parameter CreateSoiToken(long hiddenSize) => new(zeros(hiddenSize));

    /// <param name="textEmbeds">[B, L, D] embeddings of <paramref name="ids"/>.</param>
    /// <param name="ids">[B, L] token ids.</param>
    /// <param name="visEmbed">[B_I, Nq, D] visual tokens in image order, or null when the batch has no image.</param>
    /// <param name="soiToken">[D] learned vector added at every soi (in the embeddings' dtype), or null to skip.</param>
    /// <param name="tokens">Special token ids.</param>
    /// <returns>[B, L, D] multimodal embeddings.</returns>
    public static Tensor Build(Tensor textEmbeds, Tensor ids, Tensor? visEmbed, Tensor? soiToken, SpecialTokens tokens)
    {
        using var scope = NewDisposeScope();
        var (B, L, D) = (textEmbeds.shape[0], textEmbeds.shape[1], textEmbeds.shape[2]);
        if (ids.ndim != 2 || ids.shape[0] != B || ids.shape[1] != L)
            throw new ArgumentException($"ids: expected [B={B}, L={L}], found [{string.Join(", ", ids.shape)}]", nameof(ids));

        var flatIds = ids.reshape(B * L);                                                 // [B·L]
        var flat = textEmbeds.reshape(B * L, D);                                          // [B·L, D]

        var imagePos = flatIds.eq(tokens.Image).nonzero().reshape(-1);                    // [K]
        var placeholders = imagePos.shape[0];
        var rows = visEmbed is null ? 0 : visEmbed.shape[0] * visEmbed.shape[1];
        if (visEmbed is not null && (visEmbed.ndim != 3 || visEmbed.shape[2] != D))
            throw new ArgumentException(
                $"vis_embed: expected [B_I, Nq, D={D}], found [{string.Join(", ", visEmbed.shape)}]", nameof(visEmbed));
        if (placeholders != rows)
        {
            var detail = visEmbed is null ? "no vis_embed" : $"vis_embed has {visEmbed.shape[0]} images × {visEmbed.shape[1]} tokens = {rows}";
            throw new ArgumentException(
                $"ids hold {placeholders} image placeholders (id {tokens.Image}) but {detail}; they must be equal", nameof(visEmbed));
        }
        if (rows > 0)
        {
            if (visEmbed!.dtype != textEmbeds.dtype)
                throw new ArgumentException($"vis_embed dtype {visEmbed.dtype} differs from the text embeddings' {textEmbeds.dtype}", nameof(visEmbed));
            flat = flat.index_copy(0, imagePos, visEmbed.reshape(rows, D));                // [B·L, D]
        }

        if (soiToken is not null)
        {
            if (soiToken.ndim != 1 || soiToken.shape[0] != D)
                throw new ArgumentException($"soi_token: expected [{D}], found [{string.Join(", ", soiToken.shape)}]", nameof(soiToken));
            var soiPos = flatIds.eq(tokens.Soi).nonzero().reshape(-1);                      // [K_soi]
            if (soiPos.shape[0] > 0)
                flat = flat.index_add(0, soiPos, soiToken.to_type(flat.dtype).unsqueeze(0).expand(soiPos.shape[0], D), 1.0);
        }
        return flat.view(B, L, D).MoveToOuterDisposeScope();                              // [B, L, D]
    }
}
