using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deem.Perceiver;

/// <summary>
/// Weight initialisation of the BLIP-2 Q-Former as HF transformers does it for
/// <c>Blip2QFormerModel</c> (reference §1.4): linear weights ~ N(0, initializer_range), biases 0,
/// LayerNorm weight 1 and bias 0 (TorchSharp's defaults). Takes an optional generator so CPU
/// construction is reproducible, and a device (meta for parameter counting) so nothing global is touched.
/// </summary>
internal static class QFormerInit
{
    /// <summary>Builds a Linear layer with BERT-style initialisation.</summary>
    public static Linear Linear(long inFeatures, long outFeatures, double std, Generator? generator, Device? device)
    {
        var layer = nn.Linear(inFeatures, outFeatures, device: device);
        using (no_grad())
        {
            // Tensor.normal_ draws from the generator (nn.init.normal_ in TorchSharp 0.107 does not).
            layer.weight.normal_(0.0, std, generator);
            layer.bias!.zero_();
        }
        return layer;
    }
}
