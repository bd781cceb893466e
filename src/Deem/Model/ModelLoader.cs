using Deem.Config;
using Deem.IO;
using Deem.Text;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>How a model folder is loaded.</summary>
public sealed record LoadOptions
{
    /// <summary>Device and storage dtype of the weights (floating tensors; integer ones keep the file's).</summary>
    public Placement Placement { get; init; } = Placement.Default;

    /// <summary>
    /// False: the image-output towers (<see cref="ModelLoader.ImageOutputPrefixes"/>: the UNet, VAE and MMFSNet,
    /// the image decoder, <c>context_feat_proj</c>) are left on the meta device, without memory; text generation,
    /// VQA and captions never touch them, and image generation refuses such a model.
    /// </summary>
    public bool ImageOutput { get; init; } = true;

    /// <summary>Per state key, the dtype of a floating tensor; null: <see cref="Placement"/>'s dtype for all.
    /// (Training keeps its trainable parameters fp32 under a bf16 placement this way.)</summary>
    public Func<string, ScalarType>? DTypeOf { get; init; }

    /// <summary>Loads for text output only, in <paramref name="placement"/> (default: fp32 on the CPU).</summary>
    public static LoadOptions TextOnly(Placement? placement = null) => new() { Placement = placement ?? Placement.Default, ImageOutput = false };
}

/// <summary>A loaded model folder.</summary>
/// <param name="Model">The model.</param>
/// <param name="Tokenizer">Its tokenizer.</param>
/// <param name="Report">What was materialised and what was left on meta.</param>
public sealed record MaterialisedModel(DeemModel Model, ITextTokenizer Tokenizer, MaterialiseReport Report);

/// <summary>
/// Loads a DEEM model folder (<see cref="DeemCheckpoint"/>) at its final size only: the model is built on the
/// meta device (shapes, no storage, no initialisation), then each parameter is allocated in its target device and
/// dtype and filled straight from the memory-mapped safetensors (<see cref="MappedSafetensors"/>,
/// <see cref="MetaMaterialiser"/>), converting the dtype chunk by chunk. Peak memory is the weights in the target
/// dtype plus one chunk: DEEM-7B in bf16 loads in ~16 GB, where building it in fp32 and then loading took 33 GB.
/// A text-only load (<see cref="LoadOptions.ImageOutput"/> = false) leaves the image-output towers without memory.
/// </summary>
public static class ModelLoader
{
    /// <summary>State-key prefixes of the parts only image output uses (the diffusion model, the image decoder and its projection).</summary>
    public static IReadOnlyList<string> ImageOutputPrefixes { get; } = ["visual_tokenizer.encoder.", "image_decoder.", "context_feat_proj."];

    /// <summary>True for a key of <see cref="ImageOutputPrefixes"/>.</summary>
    public static bool IsImageOutputKey(string key) => ImageOutputPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal));

    /// <summary>Loads config, tokenizer and weights of <paramref name="folder"/> (strict: every key must match).</summary>
    public static MaterialisedModel Load(string folder, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        DeemCheckpoint.Require(folder);
        var config = DeemConfig.Load(Path.Combine(folder, DeemCheckpoint.ConfigFile));
        var tokenizer = TokenizerFiles.Load(folder);
        using var source = MappedSafetensors.Open(DeemCheckpoint.WeightsPath(folder));
        var model = ParameterCount.OnMeta(() => new DeemModel(config));
        try
        {
            var dtypeOf = options.DTypeOf ?? (_ => options.Placement.DType);
            Func<string, bool> keep = options.ImageOutput ? _ => true : k => !IsImageOutputKey(k);
            var report = MetaMaterialiser.Materialise(model, source, options.Placement.Device, dtypeOf, keep);
            return new MaterialisedModel(model, tokenizer, report);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>True when the model's image-output towers hold weights (false after a text-only load).</summary>
    public static bool HasImageOutput(DeemModel model) =>
        model.named_parameters().Where(p => IsImageOutputKey(p.name)).All(p => p.parameter.device_type != DeviceType.META);
}
