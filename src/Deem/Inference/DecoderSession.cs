using Deem.Language;
using Deem.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Inference;

/// <summary>
/// The LLM state of a batch being decoded (reference §4.1 steps 1–3, §1.6): the visual tokenizer runs
/// once, the multimodal embeddings of the prompt fill a KV cache (prefill), and every step feeds one
/// new token per row — its text embedding, plus the learned <c>soi_token</c> when the token is
/// <c>&lt;soi&gt;</c> — together with the image states whose <c>Visible</c> row is the new token's: the
/// images whose soi is at or after the nearest BOS of the token's document and before the token
/// (<c>soi + 1 &gt; bos</c> and <c>soi + 1 ≤ t</c>), i.e. every earlier image of its document.
/// With <c>useCache = false</c> the whole prefix (its embeddings and visibility rows are kept) is run
/// again every step: the same computation without the cache, for tests and the benchmark.
/// The session owns its tensors; <see cref="Logits"/> is replaced by each step.
/// </summary>
public sealed class DecoderSession : IDisposable
{
    readonly DeemModel model;
    readonly KvCache? cache;
    readonly (long H, long W)[] shapes;
    Tensor mask;                 // [B, T] int64, 0 on left padding
    readonly bool padded;        // whether any row has left padding (else the cached steps need no mask)
    Tensor? values;              // [B, N, S, Dv] image values in row slots, or null without images
    Tensor? embedHistory;        // [B, T, D] no-cache only
    Tensor? visibleHistory;      // [B, T, N] no-cache only
    long[] bos;                  // per row: index of the nearest BOS so far (−1 if none)
    long[][] imageStarts;        // per row and slot: soi + 1 of the image, −1 for an empty slot
    Tensor logits;               // [B, V] at the last position

    DecoderSession(DeemModel model, KvCache? cache, Tensor mask, bool padded, Tensor? values, (long H, long W)[] shapes,
        long[] bos, long[][] imageStarts, Tensor logits, Tensor? embedHistory, Tensor? visibleHistory)
    {
        this.model = model;
        this.cache = cache;
        this.mask = mask;
        this.padded = padded;
        this.values = values;
        this.shapes = shapes;
        this.bos = bos;
        this.imageStarts = imageStarts;
        this.logits = logits;
        this.embedHistory = embedHistory;
        this.visibleHistory = visibleHistory;
    }

    /// <summary>Rows (B).</summary>
    public long BatchSize => mask.shape[0];

    /// <summary>Positions so far (T, padding included).</summary>
    public long Length => mask.shape[1];

    /// <summary>Whether steps use the KV cache.</summary>
    public bool UsesCache => cache is not null;

    /// <summary>[B, V] text logits at the last position (owned by the session; valid until the next step).</summary>
    public Tensor Logits => logits;

    /// <summary>Runs the visual tokenizer and the prefill over the prompt batch.</summary>
    public static DecoderSession Start(DeemModel model, PromptBatch batch, bool useCache)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tokens = model.Tokens;
        // The prompt batch is built on the host; the session runs on the model's device.
        var device = model.Device;
        var ids = batch.Ids.to(device);
        var attention = batch.AttentionMask.to(device);
        var (B, L) = (ids.shape[0], ids.shape[1]);
        var dtype = model.VisualTokenizer.parameters().First().dtype;                            // the encoder's storage dtype (bf16 after a bf16 load)
        VisualTokenizerOutput? vis = batch.Images is null ? null
            : model.VisualTokenizer.forward(new VisualTokenizerInput(batch.Images.to(dtype, device), batch.RegionMasks?.to(dtype, device)));
        var (embeds, vision) = model.PrepareInputs(ids, vis);                                   // [B, L, D]

        // Host bookkeeping of where the images start and where each row's current document began.
        var layout = ImageLayout.FromIds(ids, tokens);
        var N = layout.MaxImages;
        var starts = Enumerable.Range(0, (int)B).Select(_ => Enumerable.Repeat(-1L, (int)N).ToArray()).ToArray();
        for (int i = 0; i < layout.ImageCount; i++)
            starts[layout.Rows[i]][layout.Slots[i]] = layout.SoiPositions[i] + 1;
        var bos = batch.Rows.Select(r =>
        {
            int last = Array.LastIndexOf(r, (long)tokens.Bos);
            return last < 0 ? -1L : L - r.Length + last;                                        // index in the left-padded row
        }).ToArray();

        var cache = useCache ? model.Llm.NewCache() : null;
        var hidden = model.Llm.forward(new LlamaModelInput(InputsEmbeds: embeds, AttentionMask: attention,
            Cache: cache, Vision: vision));                                                     // [B, L, D]
        var logits = model.TextHead.forward(hidden.select(1, L - 1)).to_type(ScalarType.Float32); // [B, V]

        var mask = attention.to_type(ScalarType.Int64).clone();
        var values = vision?.Values;
        Tensor? embedHistory = useCache ? null : embeds;
        Tensor? visibleHistory = useCache ? null : vision?.Visible;
        foreach (var t in new[] { mask, values, logits, embedHistory, visibleHistory })
            t?.DetachFromDisposeScope();
        bool padded = batch.Rows.Any(r => r.Length < L);
        return new DecoderSession(model, cache, mask, padded, values, vision?.SpatialShapes ?? [], bos, starts, logits,
            embedHistory, visibleHistory);
    }

    /// <summary>The images row b's next token may see (reference §1.6 visibility, for index <see cref="Length"/>).</summary>
    bool[] VisibleRow(int b, long index) =>
        imageStarts[b].Select(s => s >= 0 && s > bos[b] && s <= index).ToArray();

    /// <summary>Feeds one token per row and updates <see cref="Logits"/>.</summary>
    public void Append(IReadOnlyList<long> nextTokens)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (B, T) = (BatchSize, Length);
        if (nextTokens.Count != B) throw new ArgumentException($"expected {B} tokens (one per row), found {nextTokens.Count}", nameof(nextTokens));
        var tokens = model.Tokens;
        for (int b = 0; b < B; b++)
            if (nextTokens[b] == tokens.Bos) bos[b] = T;

        var device = mask.device;
        var newIds = tensor(nextTokens.ToArray(), new long[] { B, 1 }, device: device);          // [B, 1]
        var (embeds, _) = model.PrepareInputs(newIds, null);                                    // [B, 1, D]
        var newMask = cat([mask, ones(B, 1, dtype: ScalarType.Int64, device: device)], 1);     // [B, T+1]

        MmfsVisionStates? vision = null;
        Tensor? visibleRow = null;
        if (values is not null)
        {
            var N = values.shape[1];
            var host = new bool[B * N];
            for (int b = 0; b < B; b++) Array.Copy(VisibleRow(b, T), 0, host, b * N, N);
            visibleRow = tensor(host, new long[] { B, 1, N }, device: device);                   // [B, 1, N]
        }

        Tensor hidden;
        if (cache is not null)
        {
            if (visibleRow is not null) vision = new MmfsVisionStates(values!, shapes, visibleRow);
            // Without left padding the mask holds only ones: positions are P, P+1, … and one new token may see
            // every cached key, which the model assumes when given no mask (no mask and positions to build per step).
            hidden = model.Llm.forward(new LlamaModelInput(InputsEmbeds: embeds, AttentionMask: padded ? newMask : null,
                Cache: cache, Vision: vision));                                                   // [B, 1, D]
        }
        else
        {
            var allEmbeds = cat([embedHistory!, embeds], 1);                                      // [B, T+1, D]
            Tensor? allVisible = visibleRow is null ? null : cat([visibleHistory!, visibleRow], 1); // [B, T+1, N]
            if (allVisible is not null) vision = new MmfsVisionStates(values!, shapes, allVisible);
            hidden = model.Llm.forward(new LlamaModelInput(InputsEmbeds: allEmbeds, AttentionMask: newMask, Vision: vision)); // [B, T+1, D]
            Replace(ref embedHistory, allEmbeds);
            Replace(ref visibleHistory, allVisible);
        }
        var newLogits = model.TextHead.forward(hidden.select(1, hidden.shape[1] - 1)).to_type(ScalarType.Float32); // [B, V]
        Swap(ref logits, newLogits);
        Swap(ref mask, newMask);
    }

    /// <summary>Keeps rows <paramref name="rows"/> in that order (beam reordering, or repeating a prompt per beam).</summary>
    public void SelectRows(IReadOnlyList<long> rows)
    {
        using var scope = NewDisposeScope();
        var index = tensor(rows.ToArray(), device: mask.device);                                 // [B']
        cache?.SelectRows(index);
        Swap(ref mask, mask.index_select(0, index));
        Swap(ref logits, logits.index_select(0, index));
        if (values is not null) Replace(ref values, values.index_select(0, index));
        if (embedHistory is not null) Replace(ref embedHistory, embedHistory.index_select(0, index));
        if (visibleHistory is not null) Replace(ref visibleHistory, visibleHistory.index_select(0, index));
        bos = rows.Select(r => bos[r]).ToArray();
        imageStarts = rows.Select(r => imageStarts[r]).ToArray();
    }

    static void Swap(ref Tensor field, Tensor value)
    {
        if (ReferenceEquals(field, value)) return;
        value.DetachFromDisposeScope();
        field.Dispose();
        field = value;
    }

    static void Replace(ref Tensor? field, Tensor? value)
    {
        if (ReferenceEquals(field, value)) return;
        value?.DetachFromDisposeScope();
        field?.Dispose();
        field = value;
    }

    public void Dispose()
    {
        cache?.Dispose();
        foreach (var t in new[] { mask, values, embedHistory, visibleHistory, logits }) t?.Dispose();
    }
}
