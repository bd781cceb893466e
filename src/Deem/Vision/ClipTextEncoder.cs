using Deem.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>Outputs of <see cref="ClipTextEncoder"/>.</summary>
/// <param name="Pooled">[B, E]: the EOT token's final state through <c>text_projection</c> ([B, W] when there is no projection).</param>
/// <param name="LastHiddenState">[B, L, W]: every token's state after <c>ln_final</c>, the UNet's
/// <c>encoder_hidden_states</c> (SD 2.1 feeds its text encoder's last states, reference §1.9).</param>
public sealed record ClipTextOutput(Tensor Pooled, Tensor LastHiddenState);

/// <summary>
/// open_clip's <c>TextTransformer</c> (the CLIP text tower; SD 2.1's text encoder is OpenCLIP-H's,
/// reference §1.8–§1.9): token embedding + learned positions, <c>layers</c> pre-LN residual blocks
/// under a causal mask, <c>ln_final</c>, EOT pooling, <c>x @ text_projection</c>. Keys are open_clip's
/// (as <c>CLIP</c> holds them at top level): <c>token_embedding.weight</c>, <c>positional_embedding</c>,
/// <c>transformer.resblocks.{i}.{ln_1,attn.in_proj_weight,attn.in_proj_bias,attn.out_proj,ln_2,mlp.c_fc,mlp.c_proj}</c>,
/// <c>ln_final</c>, <c>text_projection</c> (absent when <see cref="ClipTextConfig.EmbedDim"/> is 0, as in a
/// diffusers text encoder). Initialisation follows open_clip's <c>init_parameters</c>.
/// </summary>
public sealed class ClipTextEncoder : nn.Module<Tensor, ClipTextOutput>
{
    private readonly Embedding token_embedding;
    private readonly Parameter positional_embedding;
    private readonly ClipTextTransformer transformer;
    private readonly LayerNorm ln_final;
    private readonly Parameter? text_projection;
    private readonly ClipTextConfig config;

    public ClipTextEncoder(ClipTextConfig config, Generator? generator = null) : base(nameof(ClipTextEncoder))
    {
        this.config = config.Validate(nameof(ClipTextConfig));
        var w = config.Width;
        token_embedding = nn.Embedding(config.VocabSize, w);
        positional_embedding = new Parameter(empty(config.ContextLength, w));
        transformer = new ClipTextTransformer(w, config.Heads, config.Layers, config.MlpWidth);
        ln_final = nn.LayerNorm(w, 1e-5);
        if (config.EmbedDim > 0) text_projection = new Parameter(empty(w, config.EmbedDim));
        RegisterComponents();
        if (positional_embedding.device_type != DeviceType.META) Init(generator);
    }

    public ClipTextConfig Config => config;

    /// <summary>The parts as open_clip's <c>CLIP</c> registers them (top-level names), for a CLIP model to adopt.</summary>
    public IEnumerable<(string Name, nn.Module Module)> TopLevelModules()
    {
        yield return ("token_embedding", token_embedding);
        yield return ("transformer", transformer);
        yield return ("ln_final", ln_final);
    }

    /// <summary>The top-level parameters (<c>positional_embedding</c>, <c>text_projection</c>).</summary>
    public IEnumerable<(string Name, Parameter Parameter)> TopLevelParameters()
    {
        yield return ("positional_embedding", positional_embedding);
        if (text_projection is not null) yield return ("text_projection", text_projection);
    }

    /// <summary>open_clip <c>init_parameters</c>: N(0, 0.02) tokens, N(0, 0.01) positions, width-scaled block weights.</summary>
    private void Init(Generator? g)
    {
        using var noGrad = no_grad();
        double w = config.Width;
        var projStd = Math.Pow(w, -0.5) * Math.Pow(2.0 * config.Layers, -0.5);
        var attnStd = Math.Pow(w, -0.5);
        var fcStd = Math.Pow(2.0 * w, -0.5);
        token_embedding.weight!.normal_(0.0, 0.02, g);
        positional_embedding.normal_(0.0, 0.01, g);
        foreach (var block in transformer.Blocks) block.Init(attnStd, projStd, fcStd, g);
        text_projection?.normal_(0.0, attnStd, g);
    }

    /// <param name="ids">[B, L] token ids, L ≤ context_length, padded after the EOT token (<see cref="Tokenize"/>).</param>
    public override ClipTextOutput forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        if (ids.ndim != 2 || ids.shape[1] > config.ContextLength || ids.shape[1] < 1)
            throw new ArgumentException($"ClipTextEncoder: expected ids [B, L ≤ {config.ContextLength}], found [{string.Join(", ", ids.shape)}]", nameof(ids));
        var (B, L) = (ids.shape[0], ids.shape[1]);
        var x = token_embedding.forward(ids) + positional_embedding.narrow(0, 0, L).unsqueeze(0);  // [B, L, W]
        x = transformer.forward(x);                                                               // [B, L, W]
        x = ln_final.forward(x);                                                                  // [B, L, W]
        var pos = PoolIndex(ids);                                                                 // [B]
        var pooled = x[arange(B, device: ids.device), pos];                                       // [B, W]
        if (text_projection is not null) pooled = pooled.matmul(text_projection);                 // [B, E]
        return new ClipTextOutput(pooled.MoveToOuterDisposeScope(), x.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The pooled position per row: argmax of the ids (open_clip <c>"argmax"</c>) or the first
    /// <c>eos_id</c> (<c>"eos"</c>; the last position when a row has none).
    /// </summary>
    public Tensor PoolIndex(Tensor ids)
    {
        using var scope = NewDisposeScope();
        if (config.PoolType == ClipTextConfig.PoolArgmax) return ids.argmax(-1).MoveToOuterDisposeScope();
        var L = ids.shape[1];
        var isEos = ids.eq(config.EosId);                                                         // [B, L]
        var index = arange(L, dtype: ScalarType.Int64, device: ids.device).unsqueeze(0);          // [1, L]
        var first = index.masked_fill(isEos.logical_not(), L).amin(new long[] { 1 });             // [B]
        return first.clamp_max(L - 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// open_clip tokenisation of already-encoded texts: <c>[bos] + ids + [eos]</c>, cut to
    /// <c>context_length</c> with the EOT kept in the last slot, padded with <c>pad_id</c>. [B, context_length] int64.
    /// </summary>
    public static Tensor Tokenize(IEnumerable<IReadOnlyList<int>> texts, ClipTextConfig config)
    {
        var rows = texts.ToList();
        var ctx = config.ContextLength;
        var data = new long[rows.Count * ctx];
        for (var r = 0; r < rows.Count; r++)
        {
            var row = new List<long>(ctx) { config.BosId };
            row.AddRange(rows[r].Select(i => (long)i));
            row.Add(config.EosId);
            if (row.Count > ctx) { row.RemoveRange(ctx, row.Count - ctx); row[ctx - 1] = config.EosId; }
            while (row.Count < ctx) row.Add(config.PadId);
            row.CopyTo(data, r * ctx);
        }
        return tensor(data, new long[] { rows.Count, ctx });
    }
}

/// <summary>open_clip <c>Transformer</c>: <c>resblocks.{i}</c>, each a causal pre-LN block.</summary>
public sealed class ClipTextTransformer : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ClipResidualAttentionBlock> resblocks;

    public ClipTextTransformer(int width, int heads, int layers, int mlpWidth) : base(nameof(ClipTextTransformer))
    {
        resblocks = new ModuleList<ClipResidualAttentionBlock>(
            Enumerable.Range(0, layers).Select(_ => new ClipResidualAttentionBlock(width, heads, mlpWidth)).ToArray());
        RegisterComponents();
    }

    public IEnumerable<ClipResidualAttentionBlock> Blocks => resblocks;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var block in resblocks) x = block.forward(x);                                    // [B, L, W]
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>open_clip <c>ResidualAttentionBlock</c>: x + attn(ln_1(x)) under the causal mask, then x + mlp(ln_2(x)).</summary>
public sealed class ClipResidualAttentionBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln_1;
    private readonly ClipCausalSelfAttention attn;
    private readonly LayerNorm ln_2;
    private readonly ClipMlp mlp;

    public ClipResidualAttentionBlock(int width, int heads, int mlpWidth) : base(nameof(ClipResidualAttentionBlock))
    {
        ln_1 = nn.LayerNorm(width, 1e-5);
        attn = new ClipCausalSelfAttention(width, heads);
        ln_2 = nn.LayerNorm(width, 1e-5);
        mlp = new ClipMlp(width, mlpWidth);
        RegisterComponents();
    }

    internal void Init(double attnStd, double projStd, double fcStd, Generator? g)
    {
        attn.Init(attnStd, projStd, g);
        mlp.Init(fcStd, projStd, g);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x + attn.forward(ln_1.forward(x));                                                    // [B, L, W]
        x = x + mlp.forward(ln_2.forward(x));                                                     // [B, L, W]
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// <c>nn.MultiheadAttention</c> as open_clip's text blocks use it (keys <c>in_proj_weight</c> [3W, W],
/// <c>in_proj_bias</c> [3W], <c>out_proj</c>), with the causal mask (each token sees itself and earlier tokens).
/// </summary>
public sealed class ClipCausalSelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly Parameter in_proj_weight;
    private readonly Parameter in_proj_bias;
    private readonly Linear out_proj;
    private readonly int heads;

    public ClipCausalSelfAttention(int width, int heads) : base(nameof(ClipCausalSelfAttention))
    {
        this.heads = heads;
        in_proj_weight = new Parameter(empty(3L * width, width));
        in_proj_bias = new Parameter(zeros(3L * width));
        out_proj = nn.Linear(width, width);
        RegisterComponents();
    }

    internal void Init(double attnStd, double projStd, Generator? g)
    {
        using var noGrad = no_grad();
        in_proj_weight.normal_(0.0, attnStd, g);
        in_proj_bias.zero_();
        out_proj.weight!.normal_(0.0, projStd, g);
        out_proj.bias!.zero_();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (B, L, W) = (x.shape[0], x.shape[1], x.shape[2]);
        var hd = W / heads;
        var qkv = nn.functional.linear(x, in_proj_weight, in_proj_bias);                         // [B, L, 3W]
        var parts = qkv.view(B, L, 3, heads, hd).permute(2, 0, 3, 1, 4);                          // [3, B, nH, L, hD]
        var o = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], is_casual: true);  // [B, nH, L, hD]
        var merged = o.transpose(1, 2).reshape(B, L, W);                                          // [B, L, W]
        return out_proj.forward(merged).MoveToOuterDisposeScope();
    }
}

/// <summary>open_clip block MLP: <c>c_fc</c> (W → 4W) → GELU → <c>c_proj</c> (4W → W).</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear c_fc;
    private readonly Linear c_proj;

    public ClipMlp(int width, int hidden) : base(nameof(ClipMlp))
    {
        c_fc = nn.Linear(width, hidden);
        c_proj = nn.Linear(hidden, width);
        RegisterComponents();
    }

    internal void Init(double fcStd, double projStd, Generator? g)
    {
        using var noGrad = no_grad();
        c_fc.weight!.normal_(0.0, fcStd, g);
        c_proj.weight!.normal_(0.0, projStd, g);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return c_proj.forward(nn.functional.gelu(c_fc.forward(x))).MoveToOuterDisposeScope();    // [B, L, W]
    }
}
