using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Deem.Distributed;

/// <summary>The address of a tensor's first element (<c>tensor.data_ptr()</c>: host memory for CPU, device memory for CUDA).</summary>
static class TensorPointer
{
    [DllImport("LibTorchSharp", EntryPoint = "THSTensor_data")] static extern IntPtr Data(IntPtr tensor);

    public static IntPtr data_ptr(this Tensor t)
    {
        var p = Data(t.Handle);
        if (p == IntPtr.Zero && t.numel() > 0) throw new InvalidOperationException("tensor has no data pointer");
        return p;
    }
}
