using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>
/// Key mapping from the open_clip checkpoint
/// <c>laion/CLIP-convnext_base_w_320-laion_aesthetic-s13B-b82K</c> (<c>open_clip_pytorch_model.bin</c>)
/// to <see cref="ImageEncoder"/> (reference §1.2). The trunk keys <c>visual.trunk.*</c> become
/// <c>vision_model.visual.trunk.*</c> (the same nesting as DEEM's <c>visual_tokenizer.sniffer</c>).
/// Ignored, as DEEM's non-strict load ends up ignoring them: the text tower, <c>logit_scale</c>, and
/// <c>visual.head.*</c> (the checkpoint's projection is linear, DEEM builds an MLP head it never uses).
/// The adapters are new and stay at their initialisation.
/// </summary>
public static class OpenClipConvNextKeys
{
    /// <summary>Trunk prefix in an open_clip checkpoint.</summary>
    public const string OpenClipTrunkPrefix = "visual.trunk.";

    /// <summary>Trunk prefix relative to the sniffer module (<see cref="ImageEncoder"/>).</summary>
    public const string SnifferTrunkPrefix = "vision_model.visual.trunk.";

    /// <summary>
    /// Renames the trunk tensors of an open_clip state dict to sniffer keys, each prefixed with
    /// <paramref name="prefix"/> (e.g. <c>"visual_tokenizer.sniffer."</c> for the whole DEEM model);
    /// everything else is dropped. Tensors are passed through, not copied.
    /// </summary>
    /// <param name="openClip">The open_clip state dict (all towers).</param>
    /// <param name="source">Names the checkpoint in errors.</param>
    /// <param name="prefix">Put in front of every returned key.</param>
    public static Dictionary<string, Tensor> MapToSniffer(IReadOnlyDictionary<string, Tensor> openClip, string source, string prefix = "")
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, value) in openClip)
        {
            if (key.StartsWith(OpenClipTrunkPrefix, StringComparison.Ordinal))
                result[prefix + SnifferTrunkPrefix + key[OpenClipTrunkPrefix.Length..]] = value;
        }
        if (result.Count == 0)
            throw new DeemFormatException(source, $"no '{OpenClipTrunkPrefix}*' tensors: not an open_clip timm-tower checkpoint");
        return result;
    }

    /// <summary>
    /// Copies the open_clip trunk weights into <paramref name="encoder"/>'s trunk, strictly: every
    /// trunk parameter must be present with the same shape and no unknown trunk key may remain.
    /// Values are converted to the parameter's dtype and device. Returns the number of tensors copied.
    /// </summary>
    public static int LoadTrunk(ImageEncoder encoder, IReadOnlyDictionary<string, Tensor> openClip, string source)
    {
        var mapped = MapToSniffer(openClip, source);
        var targets = encoder.state_dict()
            .Where(kv => kv.Key.StartsWith(SnifferTrunkPrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        foreach (var key in mapped.Keys)
        {
            if (!targets.ContainsKey(key))
                throw new DeemFormatException(source, "unexpected trunk tensor (architecture mismatch)",
                    OpenClipTrunkPrefix + key[SnifferTrunkPrefix.Length..]);
        }
        using var noGrad = no_grad();
        foreach (var (key, target) in targets)
        {
            var openClipKey = OpenClipTrunkPrefix + key[SnifferTrunkPrefix.Length..];
            if (!mapped.TryGetValue(key, out var value))
                throw new DeemFormatException(source, "missing trunk tensor", openClipKey);
            if (!value.shape.SequenceEqual(target.shape))
                throw new DeemFormatException(source,
                    $"shape [{string.Join(", ", value.shape)}], expected [{string.Join(", ", target.shape)}]", openClipKey);
            target.copy_(value);
        }
        return targets.Count;
    }
}
