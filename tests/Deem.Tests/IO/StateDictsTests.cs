using Deem.IO;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

public class StateDictsTests
{
    /// <summary>A small net whose every parameter is drawn from its own generator (not torch's global one).</summary>
    static nn.Module<Tensor, Tensor> Net(int seed)
    {
        var net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 3));
        var g = new Generator((ulong)seed);
        using (no_grad())
            foreach (var p in net.parameters())
                p.uniform_(-0.5, 0.5, g);
        return net;
    }

    static Tensor Input() => torch.randn([5, 4], generator: new Generator(99));

    static Dictionary<string, Tensor> StateOf(nn.Module m) => m.state_dict();

    [Fact]
    public void SaveThenLoadStrictGivesIdenticalOutputs()
    {
        using var dir = new TempDir();
        string path = dir.File("net.safetensors");
        using var a = Net(1);
        using var b = Net(2);
        using var x = Input();
        using var ya = a.forward(x);
        using (var yb0 = b.forward(x)) Assert.False(ya.allclose(yb0));

        StateDicts.Save(a, path, new Dictionary<string, string> { ["format"] = "pt" });
        var report = StateDicts.LoadStrict(b, path);
        Assert.Equal(new[] { "0.bias", "0.weight", "1.bias", "1.weight", "2.bias", "2.weight" }, report.Loaded);
        Assert.Empty(report.Missing);
        Assert.Empty(report.Unexpected);
        Assert.Empty(report.Converted);
        using var yb = b.forward(x);
        Assert.True(Same(ya, yb));
    }

    [Fact]
    public void ShardedSaveLoadsFromFolder()
    {
        using var dir = new TempDir();
        using var a = Net(1);
        using var b = Net(2);
        StateDicts.Save(a, dir.Path, maxShardBytes: 64);
        Assert.True(File.Exists(dir.File(ShardedSafetensors.IndexFileName)));
        StateDicts.LoadStrict(b, dir.Path);
        using var x = Input();
        using var ya = a.forward(x);
        using var yb = b.forward(x);
        Assert.True(Same(ya, yb));
    }

    static string WriteState(TempDir dir, Dictionary<string, Tensor> state, string name = "ck.safetensors")
    {
        string path = dir.File(name);
        SafetensorsWriter.Write(path, state);
        return path;
    }

    [Fact]
    public void MissingKeysAreListedSortedAndModuleIsUntouched()
    {
        using var dir = new TempDir();
        using var a = Net(1);
        var state = StateOf(a);
        state.Remove("2.weight");
        state.Remove("0.bias");
        string path = WriteState(dir, state);
        using var b = Net(2);
        using var before = b.state_dict()["1.weight"].clone();
        var ex = Assert.Throws<DeemFormatException>(() => StateDicts.LoadStrict(b, path));
        Assert.Equal(path, ex.File);
        Assert.Contains("missing keys (2): 0.bias, 2.weight", ex.Message);
        Assert.True(Same(before, b.state_dict()["1.weight"])); // checks run before any write
    }

    [Fact]
    public void UnexpectedKeysAreListed()
    {
        using var dir = new TempDir();
        using var a = Net(1);
        var state = StateOf(a);
        using var extra = torch.zeros(2);
        using var extra2 = torch.zeros(1);
        state["zz.extra"] = extra;
        state["3.weight"] = extra2;
        string path = WriteState(dir, state);
        using var b = Net(2);
        var ex = Assert.Throws<DeemFormatException>(() => StateDicts.LoadStrict(b, path));
        Assert.Contains("unexpected keys (2): 3.weight, zz.extra", ex.Message);
    }

    [Fact]
    public void ShapeMismatchIsNamedEvenWhenNotStrict()
    {
        using var dir = new TempDir();
        using var a = Net(1);
        var state = StateOf(a);
        using var wrong = torch.zeros(3, 7);
        state["2.weight"] = wrong;
        string path = WriteState(dir, state);
        using var b = Net(2);
        var ex = Assert.Throws<DeemFormatException>(() => StateDicts.LoadNonStrict(b, path));
        Assert.Contains("shape mismatch (1): 2.weight (checkpoint [3, 7] vs module [3, 8])", ex.Message);
    }

    [Fact]
    public void NonStrictReturnsMissingAndUnexpected()
    {
        using var dir = new TempDir();
        using var a = Net(1);
        var state = StateOf(a);
        state.Remove("0.bias");
        using var extra = torch.ones(2);
        state["head.w"] = extra;
        string path = WriteState(dir, state);
        using var b = Net(2);
        using var initialBias = b.state_dict()["0.bias"].clone();
        var r = StateDicts.LoadNonStrict(b, path);
        Assert.Equal(new[] { "0.bias" }, r.Missing);
        Assert.Equal(new[] { "head.w" }, r.Unexpected);
        Assert.True(Same(a.state_dict()["2.weight"], b.state_dict()["2.weight"]));
        Assert.True(Same(initialBias, b.state_dict()["0.bias"]));   // missing key left as initialised
        Assert.False(Same(initialBias, a.state_dict()["0.bias"]));
    }

    [Fact]
    public void PrefixSelectsAndStripsNestedKeys()
    {
        using var dir = new TempDir();
        using var a = Net(1);
        var state = StateOf(a).ToDictionary(kv => "visual.trunk." + kv.Key, kv => kv.Value);
        using var other = torch.ones(3);
        state["text.embed"] = other;                       // outside the prefix: ignored, not unexpected
        string path = WriteState(dir, state);
        using var b = Net(2);
        var r = StateDicts.LoadStrict(b, path, prefix: "visual.trunk.");
        Assert.Equal(6, r.Loaded.Count);
        Assert.Empty(r.Unexpected);
        using var x = Input();
        using var ya = a.forward(x);
        using var yb = b.forward(x);
        Assert.True(Same(ya, yb));

        using var c = Net(3);
        var ex = Assert.Throws<DeemFormatException>(() => StateDicts.LoadStrict(c, path, prefix: "visual."));
        Assert.Contains("prefix 'visual.'", ex.Message);
        Assert.Contains("missing keys (6)", ex.Message);
        Assert.Contains("unexpected keys (6): trunk.0.bias", ex.Message);
    }

    [Fact]
    public void Bf16CheckpointIntoF32ParamsIsExplicit()
    {
        using var dir = new TempDir();
        using var a = Net(1);
        var bf = StateOf(a).ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16));
        string path = WriteState(dir, bf);
        using var b = Net(2);
        var r = StateDicts.LoadStrict(b, path, dtype: DtypeHandling.CastToParameter);
        Assert.Equal(r.Loaded, r.Converted);
        var w = b.state_dict()["0.weight"];
        Assert.Equal(ScalarType.Float32, w.dtype);
        using var expected = bf["0.weight"].to(ScalarType.Float32);
        Assert.True(Same(w, expected));

        using var c = Net(3);
        var ex = Assert.Throws<DeemFormatException>(() => StateDicts.LoadStrict(c, path, dtype: DtypeHandling.RequireMatch));
        Assert.Contains("dtype mismatch (6): 0.bias (checkpoint BFloat16 vs module Float32)", ex.Message);
        foreach (var t in bf.Values) t.Dispose();
    }
}
