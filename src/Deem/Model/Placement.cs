using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>
/// Where a model runs and in which precision its weights are held: the device (<c>cpu</c>, <c>cuda</c>,
/// <c>cuda:N</c>, or <c>meta</c> for shape-only runs) and the storage dtype of the frozen towers
/// (<c>bf16</c>, <c>fp16</c>, <c>fp32</c>). Trainable parameters, their optimizer state and every loss
/// stay fp32 whatever the dtype (master weights, as mixed-precision training keeps them).
/// </summary>
public sealed record Placement(Device Device, ScalarType DType)
{
    /// <summary>fp32 on the CPU: the default of every verb.</summary>
    public static Placement Default { get; } = new(CPU, ScalarType.Float32);

    /// <summary>True when the frozen towers are held below fp32.</summary>
    public bool IsLowPrecision => DType != ScalarType.Float32;

    /// <summary>The dtype's name as the command line spells it.</summary>
    public string DTypeName => DTypeNameOf(DType);

    /// <summary>
    /// Reads <c>--device</c> and <c>--dtype</c> values. A device this build cannot reach (CUDA in the
    /// CPU build, or a CUDA index beyond the devices present) is refused with a one-line error naming
    /// the option.
    /// </summary>
    public static Placement Parse(string? device, string? dtype) =>
        new(ParseDevice(device ?? "cpu"), ParseDType(dtype ?? "fp32"));

    /// <summary>Parses <c>cpu</c>, <c>meta</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public static Device ParseDevice(string text)
    {
        string t = text.Trim().ToLowerInvariant();
        if (t == "cpu") return CPU;
        if (t == "meta") return META;
        if (t == "cuda" || t.StartsWith("cuda:", StringComparison.Ordinal))
        {
            int index = 0;
            if ((t.Length > 4 && !int.TryParse(t.AsSpan(5), out index)) || index < 0)
                throw new DeemException($"--device: '{text}' is not cpu, cuda or cuda:N");
            if (!cuda.is_available())
                throw new DeemException($"--device {text}: this build of TorchSharp has no CUDA device " +
                                        "(build with -p:DeemTorchBackend=cuda-linux on a machine with a GPU)");
            if (index >= cuda.device_count())
                throw new DeemException($"--device {text}: only {cuda.device_count()} CUDA device(s) present");
            return new Device(DeviceType.CUDA, index);
        }
        throw new DeemException($"--device: '{text}' is not cpu, cuda or cuda:N");
    }

    /// <summary>Parses <c>bf16</c>, <c>fp16</c> or <c>fp32</c> (and the long names).</summary>
    public static ScalarType ParseDType(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" or "f32" => ScalarType.Float32,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        "fp16" or "float16" or "f16" or "half" => ScalarType.Float16,
        _ => throw new DeemException($"--dtype: '{text}' is not bf16, fp16 or fp32"),
    };

    /// <summary>The short name of a floating dtype (<c>bf16</c>, <c>fp16</c>, <c>fp32</c>).</summary>
    public static string DTypeNameOf(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "fp32",
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        _ => dtype.ToString(),
    };

    /// <summary>Bytes per element of a floating dtype.</summary>
    public static int BytesOf(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => 4,
        ScalarType.BFloat16 or ScalarType.Float16 => 2,
        ScalarType.Float64 => 8,
        _ => throw new ArgumentException($"not a floating dtype: {dtype}"),
    };

    /// <inheritdoc />
    public override string ToString() => $"{Device.type.ToString().ToLowerInvariant()}{(Device.index > 0 ? ":" + Device.index : "")} {DTypeName}";
}
