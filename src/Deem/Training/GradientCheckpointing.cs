using Deem.Config;
using Deem.Model;

namespace Deem.Training;

/// <summary>Sets the stage's <c>gradient_checkpointing</c> switches on the modules of a DEEM model.</summary>
public static class GradientCheckpointing
{
    /// <summary>Switches <see cref="ActivationCheckpoint"/> on or off per module kind; absent modules are skipped.</summary>
    /// <param name="model">The model to configure.</param>
    /// <param name="config">Which module kinds recompute their activations.</param>
    public static void Apply(DeemModel model, GradientCheckpointingConfig config)
    {
        model.Llm.GradientCheckpointing = config.Llm;
        model.VisualTokenizer.Head.PerceiverResampler.GradientCheckpointing = config.Perceiver;
        if (model.ImageDecoder is { } decoder) decoder.PerceiverResampler.GradientCheckpointing = config.ImageDecoder;
        if (model.Diffusion is { } sd)
        {
            sd.UNet.GradientCheckpointing = config.Unet;
            sd.MmfsModule.GradientCheckpointing = config.Mmfs;
        }
    }

    /// <summary>The switches as set on the model (for logs and tests).</summary>
    /// <param name="model">The model to read.</param>
    public static GradientCheckpointingConfig Of(DeemModel model) => new()
    {
        Llm = model.Llm.GradientCheckpointing,
        Perceiver = model.VisualTokenizer.Head.PerceiverResampler.GradientCheckpointing,
        ImageDecoder = model.ImageDecoder?.PerceiverResampler.GradientCheckpointing ?? false,
        Unet = model.Diffusion?.UNet.GradientCheckpointing ?? false,
        Mmfs = model.Diffusion?.MmfsModule.GradientCheckpointing ?? false,
    };
}
