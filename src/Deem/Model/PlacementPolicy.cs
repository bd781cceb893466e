using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>
/// Puts a model on its <see cref="Placement"/>: the device of every weight, and which weights are held
/// in the low dtype. TorchSharp has no autocast, so precision is a property of the weights, and the
/// forwards cast explicitly where a module meets another of a different dtype (<see cref="AsInputOf"/>):
/// <list type="bullet">
/// <item>Inference (<see cref="ApplyForInference"/>): every floating weight is cast to the dtype once,
/// right after loading (<c>DeemCheckpoint.Load</c>, later a loader that materialises weights directly in
/// the dtype calls the same function); inputs are cast to the first module's dtype; sampling and the
/// DDIM/DDPM updates read fp32 logits and latents.</item>
/// <item>Training (<see cref="ApplyForTraining"/>, after the stage's freeze schedule): the frozen towers,
/// i.e. every largest sub-module whose parameters all have <c>requires_grad</c> false (the VAE, the frozen
/// UNet, the frozen ConvNeXt trunk, the frozen LLaMA body around its trainable MMFS cross-attention, the
/// frozen text head), are held in the dtype; trainable parameters, so their gradients and AdamW state,
/// stay fp32 (master weights). A frozen tower's input is cast to its dtype and its output back to
/// fp32 where it meets a trainable module; every loss is computed in fp32.</item>
/// </list>
/// </summary>
public static class PlacementPolicy
{
    /// <summary>
    /// Casts every floating weight to the dtype, then moves every weight to the device (cast first, so the
    /// device never holds the fp32 copy).
    /// </summary>
    public static void ApplyForInference(nn.Module model, Placement placement)
    {
        if (placement.IsLowPrecision) model.to(placement.DType);
        model.to(placement.Device);
        if (placement.Device.type == DeviceType.CPU && !placement.IsLowPrecision) LayOutForDecoding(model);  // as DeemPipeline.Load does
    }

    /// <summary>
    /// Holds the weight W [out, in] of every linear layer of the LLM and its text head as the transposed
    /// view of an [in, out] matrix: the same parameter shape, values and state-dict key, but x·Wᵀ for one
    /// row then reads W in the order it multiplies. On this project's 2-core CPU a one-row product with a
    /// 1376 × 512 weight took 109 µs instead of 180 (docs/experiments.md §6). Applied to fp32 models on
    /// the CPU (<see cref="ApplyForInference"/>, <c>DeemPipeline.Load</c>), which own their weights; models
    /// read through <see cref="ModelLoader"/> keep the file's layout (their weights may be memory-mapped, and
    /// a relayout would copy them). Inference only. Returns how many weights were laid out.
    /// </summary>
    public static int LayOutForDecoding(nn.Module model)
    {
        int n = 0;
        using var noGrad = no_grad();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not TorchSharp.Modules.Linear linear || linear.weight is not { } w) continue;
            if (!(name.StartsWith("mm_decoder.", StringComparison.Ordinal) || name.StartsWith("text_decoder.", StringComparison.Ordinal))) continue;
            if (name.Contains("llama_cross_attn", StringComparison.Ordinal) || w.ndim != 2 || !w.is_contiguous()) continue;
            bool grad = w.requires_grad;
            linear.weight = new TorchSharp.Modules.Parameter(w.t().contiguous().t(), requires_grad: grad);          // [out, in], strides (1, out)
            n++;
        }
        return n;
    }

    /// <summary>
    /// Casts the frozen towers to the dtype (nothing with fp32), then moves every weight to the device.
    /// Call after the freeze schedule and before the optimizer is built (a cast replaces the tensors).
    /// Returns the names of the modules now held in the dtype.
    /// </summary>
    public static IReadOnlyList<string> ApplyForTraining(nn.Module model, Placement placement)
    {
        var low = new List<string>();
        if (placement.IsLowPrecision) CastFrozenTowers(model, "", placement.DType, low);
        model.to(placement.Device);
        return low;
    }

    /// <summary>
    /// Casts each largest child module whose parameters are all frozen; a module that mixes frozen and
    /// trainable parameters is descended into, and its own direct parameters (fixed tables such as
    /// <c>pos_embed</c> and <c>ignore_token</c>, gates) stay fp32 with the trainable code around them.
    /// </summary>
    static void CastFrozenTowers(nn.Module module, string prefix, ScalarType dtype, List<string> low)
    {
        foreach (var (name, child) in module.named_children())
        {
            var parameters = child.parameters().ToList();
            if (parameters.Count == 0) continue;
            if (parameters.All(p => !p.requires_grad))
            {
                child.to(dtype);
                low.Add(prefix + name);
            }
            else CastFrozenTowers(child, prefix + name + ".", dtype, low);
        }
    }

    /// <summary>The dtype a module computes in: that of its first parameter (fp32 for a module without any).</summary>
    public static ScalarType DTypeOf(nn.Module module) =>
        module.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;

    /// <summary>The device of a module's first parameter (the CPU for a module without any).</summary>
    public static Device DeviceOf(nn.Module module) =>
        module.parameters().FirstOrDefault()?.device ?? CPU;

    /// <summary>
    /// <paramref name="x"/> as the input of <paramref name="module"/>: cast to the module's dtype when it is
    /// floating and differs (a module boundary under a mixed placement); otherwise <paramref name="x"/> itself.
    /// </summary>
    public static Tensor AsInputOf(this Tensor x, nn.Module module)
    {
        var dtype = DTypeOf(module);
        return x.is_floating_point() && x.dtype != dtype ? x.to(dtype) : x;
    }

    /// <summary><paramref name="x"/> in fp32 (where a low-precision tower's output meets a trainable module or a loss).</summary>
    public static Tensor Fp32(this Tensor x) =>
        x.dtype == ScalarType.Float32 || !x.is_floating_point() ? x : x.to(ScalarType.Float32);
}
