using System.Runtime.InteropServices;
using TorchSharp;

namespace Deem.Diagnostics;

/// <summary>
/// libtorch's NNPACK switch (<c>torch.backends.nnpack.set_flags</c> in PyTorch, not exposed by TorchSharp). libtorch
/// asks whether NNPACK is available at every CPU convolution large enough for it, and on a CPU that NNPACK does not
/// know it logs "Could not initialize NNPACK! Reason: Unsupported hardware." each time: 4757 lines on the stderr of
/// one <c>deem demo</c>, 624 in one 96-px SFT log. With the switch off libtorch skips the question (the switch is
/// read first) and runs those convolutions on its oneDNN or native kernels, as it does on such a CPU anyway.
/// Set by the command line unless <c>DEEM_NNPACK=1</c>.
/// </summary>
public static class NnpackSettings
{
    public const string Variable = "DEEM_NNPACK";

    const string Library = "libtorch_cpu.so";
    const string GlobalContext = "_ZN2at13globalContextEv";                       // at::globalContext()
    const string SetEnabled = "_ZN2at7Context20setUserEnabledNNPACKEb";          // at::Context::setUserEnabledNNPACK(bool)
    const string GetEnabled = "_ZNK2at7Context17userEnabledNNPACKEv";            // at::Context::userEnabledNNPACK() const

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate IntPtr ContextFn();
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate void SetFn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] [return: MarshalAs(UnmanagedType.U1)] delegate bool GetFn(IntPtr context);

    /// <summary>What the last <see cref="TurnOff"/> left in force, in words; null before it ran (for <c>deem doctor</c>).</summary>
    public static string? InForce { get; private set; }

    /// <summary>
    /// Turns libtorch's NNPACK use off (loads libtorch if it is not loaded yet; call it after
    /// <see cref="ThreadSettings.UsePassiveOpenMpWait"/>). Returns what is in force, in words.
    /// </summary>
    public static string TurnOff() => InForce = Apply();

    /// <summary>libtorch's switch as it stands; null where this libtorch does not export it.</summary>
    public static bool? Enabled() =>
        Context() is { } context && Export<GetFn>(GetEnabled) is { } get ? get(context) : null;

    static string Apply()
    {
        if (Environment.GetEnvironmentVariable(Variable) == "1") return $"libtorch's default ({Variable}=1)";
        if (Context() is not { } context || Export<SetFn>(SetEnabled) is not { } set) return "libtorch's default (switch not found)";
        set(context, false);
        return Enabled() == false ? "off" : "libtorch's default (switch did not take)";
    }

    static IntPtr? Context() =>
        Export<ContextFn>(GlobalContext) is { } get && get() is var pointer && pointer != IntPtr.Zero ? pointer : null;

    /// <summary>The process's libtorch_cpu, found once (loading libtorch first if nothing has yet); null off Linux or if absent.</summary>
    static readonly Lazy<IntPtr?> Handle = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return null;
        torch.InitializeDeviceType(DeviceType.CPU);                                 // libtorch_cpu is loaded by now
        return NativeLibrary.TryLoad(Library, out var handle) ? handle : null;      // the loaded copy, by its soname
    });

    static T? Export<T>(string symbol) where T : Delegate =>
        Handle.Value is { } handle && NativeLibrary.TryGetExport(handle, symbol, out var address)
            ? Marshal.GetDelegateForFunctionPointer<T>(address)
            : null;
}
