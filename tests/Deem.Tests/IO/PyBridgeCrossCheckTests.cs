using System.Collections;
using Deem.IO;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

/// <summary>
/// The own <c>torch.save</c> and safetensors readers and writers against an independent implementation of both
/// formats, TorchSharp.PyBridge (whose pickled files its own tests load with PyTorch's <c>torch.load</c>): each
/// side reads what the other wrote, every storage type both know, bit for bit. The other IO tests check the
/// formats against hand-assembled files and the specs; these check that the two implementations agree.
/// </summary>
public class PyBridgeCrossCheckTests
{
    /// <summary>Every storage type of both implementations, with the shapes a state dict holds: 0-d, empty, 1-3-d.</summary>
    static Dictionary<string, Tensor> StateDict()
    {
        var g = new Generator(7);
        return new()
        {
            ["model.layers.0.self_attn.q_proj.weight"] = torch.randn(new long[] { 3, 4 }, generator: g),
            ["model.norm.weight"] = torch.randn(new long[] { 5 }, generator: g).to(ScalarType.BFloat16),
            ["vae.conv.weight"] = torch.randn(new long[] { 2, 3, 2 }, generator: g).to(ScalarType.Float16),
            ["scheduler.alphas"] = torch.randn(new long[] { 4 }, ScalarType.Float64, generator: g),
            ["position_ids"] = torch.tensor(new long[] { 3, -4, 1L << 40 }),
            ["counts"] = torch.tensor(new[] { 7, -1 }),
            ["short"] = torch.tensor(new short[] { -300, 2 }),
            ["int8"] = torch.tensor(new sbyte[] { -5, 9 }),
            ["bytes"] = torch.tensor(new byte[] { 0, 255, 17 }),
            ["mask"] = torch.tensor(new[] { true, false, true }),
            ["logit_scale"] = torch.tensor(2.5f),
            ["empty"] = torch.zeros(0, 4),
        };
    }

    static void AssertSameDict(Dictionary<string, Tensor> expected, IDictionary actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Cast<string>().Order());
        foreach (var (k, t) in expected)
        {
            var back = Assert.IsAssignableFrom<Tensor>(actual[k]);
            Assert.True(Same(t, back), $"{k}: {t.dtype} [{string.Join(", ", t.shape)}] read back as {back.dtype} [{string.Join(", ", back.shape)}] or other bits");
        }
    }

    [Fact]
    public void OwnTorchSaveArchiveLoadsInPyBridge()
    {
        using var dir = new TempDir();
        var sd = StateDict();
        string path = dir.File("pytorch_model.bin");
        TorchCheckpointWriter.Write(path, sd);
        AssertSameDict(sd, PyTorchUnpickler.UnpickleStateDict(path));
    }

    [Fact]
    public void PyBridgeTorchSaveArchiveLoadsInOwnReader()
    {
        using var dir = new TempDir();
        var sd = StateDict();
        string path = dir.File("pytorch_model.bin");
        using (var s = File.Create(path))
            PyTorchPickler.PickleStateDict(s, sd);
        AssertSameDict(sd, TorchCheckpoint.Load(path));
    }

    [Fact]
    public void OwnSafetensorsLoadInPyBridge()
    {
        using var dir = new TempDir();
        var sd = StateDict();
        string path = dir.File("model.safetensors");
        SafetensorsWriter.Write(path, sd);
        AssertSameDict(sd, TorchSharp.PyBridge.Safetensors.LoadStateDict(path));
    }

    [Fact]
    public void PyBridgeSafetensorsLoadInOwnReader()
    {
        using var dir = new TempDir();
        var sd = StateDict();
        string path = dir.File("model.safetensors");
        using (var s = File.Create(path))
            TorchSharp.PyBridge.Safetensors.SaveStateDict(s, sd);
        using var file = SafetensorsFile.Open(path);
        AssertSameDict(sd, file.LoadAll());
    }
}
