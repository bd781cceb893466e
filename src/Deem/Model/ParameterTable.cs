using TorchSharp;

namespace Deem.Model;

/// <summary>One row of a parameter table: a named group of parameters, all and trainable.</summary>
public sealed record ParameterRow(string Group, long Total, long Trainable);

/// <summary>A named group of parameters, chosen by a predicate on the parameter name.</summary>
public sealed record ParameterGroup(string Name, Func<string, bool> Contains)
{
    /// <summary>Parameters whose names start with any of the prefixes.</summary>
    public static ParameterGroup Prefixes(string name, params string[] prefixes) =>
        new(name, n => prefixes.Any(p => n.StartsWith(p, StringComparison.Ordinal)));

    /// <summary>Parameters whose names contain the fragment.</summary>
    public static ParameterGroup Fragment(string name, string fragment) =>
        new(name, n => n.Contains(fragment, StringComparison.Ordinal));
}

/// <summary>
/// Counts parameters by group (reference §1.11). Works on models built on the meta device, so the
/// paper-scale 8.2 B-parameter system can be counted without allocating it.
/// </summary>
public static class ParameterTable
{
    /// <summary>
    /// Rows for each group, in order; a parameter belongs to the first group that contains it.
    /// Parameters no group claims are gathered in an "other" row, so the rows always sum to the
    /// model's total.
    /// </summary>
    public static List<ParameterRow> Build(torch.nn.Module model, IReadOnlyList<ParameterGroup> groups)
    {
        var totals = new long[groups.Count + 1];
        var trainable = new long[groups.Count + 1];
        foreach (var (name, p) in model.named_parameters())
        {
            int g = GroupIndex(name, groups);
            totals[g] += p.numel();
            if (p.requires_grad) trainable[g] += p.numel();
        }
        var rows = groups.Select((x, i) => new ParameterRow(x.Name, totals[i], trainable[i])).ToList();
        if (totals[groups.Count] > 0) rows.Add(new ParameterRow("other", totals[groups.Count], trainable[groups.Count]));
        return rows;
    }

    /// <summary>Index of the first group containing the name, or <c>groups.Count</c> ("other").</summary>
    public static int GroupIndex(string name, IReadOnlyList<ParameterGroup> groups)
    {
        int g = 0;
        while (g < groups.Count && !groups[g].Contains(name)) g++;
        return g;
    }

    public static long Total(torch.nn.Module model) => model.parameters().Sum(p => p.numel());

    public static long TrainableCount(torch.nn.Module model) => model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    /// <summary>The groups of DEEM's modules, in the order of reference §1.11.</summary>
    public static IReadOnlyList<ParameterGroup> DeemGroups { get; } =
    [
        ParameterGroup.Prefixes("ConvNeXt trunk", "visual_tokenizer.sniffer.vision_model.visual.trunk."),
        ParameterGroup.Prefixes("open_clip proj head (unused)", "visual_tokenizer.sniffer.vision_model.visual.head."),
        ParameterGroup.Prefixes("adapters c2-c5 + cls", "visual_tokenizer.sniffer.vision_model.adapter_"),
        ParameterGroup.Prefixes("pos_proj + LNs + proj_t + proj_i", "visual_tokenizer.pos_proj.", "visual_tokenizer.pos_ln.",
            "visual_tokenizer.post_ln.", "visual_tokenizer.proj_t.", "visual_tokenizer.proj_i."),
        ParameterGroup.Prefixes("visual Q-Former", "visual_tokenizer.perceiver_resampler."),
        ParameterGroup.Prefixes("mask-aware extractor", "visual_tokenizer.feature_extractor."),
        ParameterGroup.Fragment("LLM MMFS cross-attention", ".llama_cross_attn."),
        ParameterGroup.Prefixes("LLaVA MLP projector", "mm_projector."),
        ParameterGroup.Prefixes("LLaMA body", "mm_decoder."),
        ParameterGroup.Prefixes("text head (frozen)", "text_decoder.head."),
        ParameterGroup.Prefixes("text head_new", "text_decoder.head_new."),
        ParameterGroup.Prefixes("context_feat_proj + soi_token", "context_feat_proj.", "soi_token"),
        ParameterGroup.Prefixes("decoder Q-Former + null embedding", "image_decoder."),
        ParameterGroup.Prefixes("SD UNet", "visual_tokenizer.encoder.unet."),
        ParameterGroup.Prefixes("SD VAE", "visual_tokenizer.encoder.vae."),
        ParameterGroup.Prefixes("MMFSNet", "visual_tokenizer.encoder.mmfs_module."),
    ];
}
