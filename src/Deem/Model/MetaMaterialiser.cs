using System.Reflection;
using Deem.IO;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>What a materialisation did.</summary>
/// <param name="Tensors">Parameters and buffers given storage.</param>
/// <param name="Bytes">Bytes of that storage (the model's resident weights).</param>
/// <param name="LeftOnMeta">State keys skipped on purpose (e.g. the image-output towers of a text-only load), still on meta.</param>
public sealed record MaterialiseReport(int Tensors, long Bytes, IReadOnlyList<string> LeftOnMeta);

/// <summary>
/// Gives a module built on the meta device (shapes, no storage: <see cref="Vision.ParameterCount.OnMeta{T}"/>)
/// real storage, tensor by tensor, each filled from a memory-mapped checkpoint as it is allocated, so the
/// weights are never built in another dtype first nor held twice. Each meta parameter is replaced by a new
/// one (as TorchSharp's own <c>Module.to</c> does): through the module's settable property of that name
/// (<c>Linear.weight</c>), or by re-registering it and setting the fields that held the meta one.
/// </summary>
public static class MetaMaterialiser
{
    static readonly MethodInfo RegisterParameter = typeof(nn.Module).GetMethod("ConditionallyRegisterParameter",
        BindingFlags.Instance | BindingFlags.NonPublic, [typeof(string), typeof(Parameter)])
        ?? throw new MissingMethodException("TorchSharp nn.Module.ConditionallyRegisterParameter(string, Parameter)");
    static readonly MethodInfo RegisterBuffer = typeof(nn.Module).GetMethod("ConditionallyRegisterBuffer",
        BindingFlags.Instance | BindingFlags.NonPublic, [typeof(string), typeof(Tensor), typeof(bool)])
        ?? throw new MissingMethodException("TorchSharp nn.Module.ConditionallyRegisterBuffer(string, Tensor, bool)");

    /// <summary>
    /// Materialises every meta tensor of <paramref name="module"/>'s state whose key <paramref name="keep"/>
    /// accepts, on <paramref name="device"/> in the dtype <paramref name="dtypeOf"/> gives its key (floating
    /// tensors; others keep the file's), filled from <paramref name="source"/>. Keys rejected by
    /// <paramref name="keep"/> stay on meta. Strict: every kept key must be in the checkpoint and every
    /// checkpoint key must be a state key; all problems are named in one <see cref="DeemFormatException"/>
    /// before anything is allocated.
    /// </summary>
    public static MaterialiseReport Materialise(nn.Module module, MappedSafetensors source, Device device,
        Func<string, ScalarType> dtypeOf, Func<string, bool> keep)
    {
        var state = module.state_dict();
        var kept = state.Keys.Where(keep).ToList();
        var missing = kept.Where(k => !source.Contains(k)).ToList();
        var unexpected = source.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var misshapen = kept.Where(k => source.Contains(k) && !source.Spec(k).Shape.SequenceEqual(state[k].shape))
            .Select(k => $"{k} (checkpoint {source.Spec(k).ShapeText} vs module [{string.Join(", ", state[k].shape)}])").ToList();
        var problems = new List<string>();
        if (missing.Count > 0) problems.Add($"missing keys ({missing.Count}): {string.Join(", ", missing)}");
        if (unexpected.Count > 0) problems.Add($"unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected)}");
        if (misshapen.Count > 0) problems.Add($"shape mismatch ({misshapen.Count}): {string.Join(", ", misshapen)}");
        if (problems.Count > 0) throw new DeemFormatException(source.Path, $"state dict does not fit the module: {string.Join("; ", problems)}");

        int tensors = 0;
        long bytes = 0;
        foreach (var (prefix, owner) in module.named_modules().Prepend(("", module)))
        {
            string Key(string name) => prefix.Length == 0 ? name : $"{prefix}.{name}";
            foreach (var (name, p) in owner.named_parameters(recurse: false).ToList())
            {
                if (p.device_type != DeviceType.META || !keep(Key(name))) continue;
                var real = new Parameter(Fill(source, Key(name), p, device, dtypeOf), p.requires_grad);   // takes the tensor's handle
                (tensors, bytes) = (tensors + 1, bytes + real.numel() * real.element_size());
                Replace(owner, name, real, isParameter: true);
            }
            foreach (var (name, b) in owner.named_buffers(recurse: false).ToList())
            {
                if (b.device_type != DeviceType.META || !keep(Key(name)) || !state.ContainsKey(Key(name))) continue;
                var real = Fill(source, Key(name), b, device, dtypeOf);
                (tensors, bytes) = (tensors + 1, bytes + real.numel() * real.element_size());
                Replace(owner, name, real, isParameter: false);
            }
        }
        var after = module.state_dict();
        var stillMeta = after.Where(kv => kv.Value.device_type == DeviceType.META).Select(kv => kv.Key).ToList();
        if (stillMeta.Any(keep))
            throw new InvalidOperationException($"left on the meta device: {string.Join(", ", stillMeta.Where(keep))}");
        return new MaterialiseReport(tensors, bytes, stillMeta);
    }

    /// <summary>A new tensor on <paramref name="device"/> holding the checkpoint's <paramref name="key"/>.</summary>
    static Tensor Fill(MappedSafetensors source, string key, Tensor like, Device device, Func<string, ScalarType> dtypeOf)
    {
        var fileDtype = source.Spec(key).Dtype;
        var dtype = like.is_floating_point() ? dtypeOf(key) : fileDtype;
        var real = empty(like.shape, dtype, device);
        try
        {
            source.CopyInto(key, real);
            return real;
        }
        catch
        {
            real.Dispose();
            throw;
        }
    }

    /// <summary>Puts <paramref name="value"/> where <paramref name="owner"/> keeps its direct state <paramref name="name"/>.</summary>
    static void Replace(nn.Module owner, string name, Tensor value, bool isParameter)
    {
        var type = owner.GetType();
        var property = type.GetProperty(name, BindingFlags.Instance | BindingFlags.Public);
        if (property is { CanWrite: true } && property.PropertyType.IsAssignableFrom(value.GetType()))
        {
            property.SetValue(owner, value);                  // e.g. Linear.weight: disposes the old one and registers the new
            return;
        }
        var old = isParameter ? owner.named_parameters(recurse: false).First(p => p.name == name).parameter
                              : owner.named_buffers(recurse: false).First(b => b.name == name).buffer;
        if (isParameter) RegisterParameter.Invoke(owner, [name, value]);
        else RegisterBuffer.Invoke(owner, [name, value, true]);            // a state-dict buffer is persistent
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
            foreach (var field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (field.FieldType.IsAssignableFrom(value.GetType()) && (ReferenceEquals(field.GetValue(owner), old)
                        || (field.GetCustomAttribute<ComponentNameAttribute>()?.Name ?? field.Name) == name))
                    field.SetValue(owner, value);
        old.Dispose();
    }
}
