using TorchSharp;

namespace Deem.Model;

/// <summary>One row of a parameter table: a named group of parameters, all and trainable.</summary>
public sealed record ParameterRow(string Group, string Prefix, long Total, long Trainable);

/// <summary>
/// Counts parameters by name prefix (reference §1.11). Works on models built on the meta device, so
/// the paper-scale 8.2 B-parameter system can be counted without allocating it.
/// </summary>
public static class ParameterTable
{
    /// <summary>
    /// Rows for each (display name, prefix) group, in order; a parameter belongs to the first group
    /// whose prefix it starts with. Parameters no group claims are gathered in an "other" row, so
    /// the rows always sum to the model's total.
    /// </summary>
    public static List<ParameterRow> Build(torch.nn.Module model, IEnumerable<(string Group, string Prefix)> groups)
    {
        var list = groups.ToList();
        var totals = new long[list.Count + 1];
        var trainable = new long[list.Count + 1];
        foreach (var (name, p) in model.named_parameters())
        {
            int g = list.FindIndex(x => name.StartsWith(x.Prefix, StringComparison.Ordinal));
            if (g < 0) g = list.Count;
            totals[g] += p.numel();
            if (p.requires_grad) trainable[g] += p.numel();
        }
        var rows = list.Select((x, i) => new ParameterRow(x.Group, x.Prefix, totals[i], trainable[i])).ToList();
        if (totals[list.Count] > 0) rows.Add(new ParameterRow("other", "", totals[list.Count], trainable[list.Count]));
        return rows;
    }

    public static long Total(torch.nn.Module model) => model.parameters().Sum(p => p.numel());

    public static long TrainableCount(torch.nn.Module model) => model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
}
