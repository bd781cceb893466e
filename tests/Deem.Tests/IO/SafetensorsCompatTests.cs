using System.Text;
using Deem.IO;
using TorchSharp;
using static TorchSharp.torch;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

/// <summary>
/// Files laid out exactly as the reference <c>safetensors</c> library writes them (huggingface/safetensors
/// README "Format", <c>tensor.rs</c> <c>prepare</c>): compact JSON, "__metadata__" first, tensors by
/// descending dtype alignment then name, offsets contiguous from 0, header space-padded to 8 bytes.
/// </summary>
public class SafetensorsCompatTests
{
    [Fact]
    public void ReadsAndReproducesTheReferenceLayoutByteForByte()
    {
        // save_file({"a": uint8 [2], "b": float32 [2], "c": bfloat16 [1]}, metadata={"format": "pt"})
        // Order by alignment: F32 "b" (8 bytes), BF16 "c" (2 bytes), U8 "a" (2 bytes).
        string header = "{\"__metadata__\":{\"format\":\"pt\"},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"c\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[8,10]},"
                        + "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]}}";
        Assert.Equal(194, header.Length);              // 194 % 8 = 2 -> six spaces of padding
        var expected = new List<byte>();
        expected.AddRange(BitConverter.GetBytes(200UL));       // u64 little-endian header length
        expected.AddRange(Encoding.ASCII.GetBytes(header));
        expected.AddRange("      "u8.ToArray());
        expected.AddRange(F32(1.5f, -2f));                     // b
        expected.AddRange(new byte[] { 0x40, 0x40 });           // c = bf16 3.0
        expected.AddRange(new byte[] { 7, 255 });               // a

        using var dir = new TempDir();
        string handBuilt = dir.File("python.safetensors");
        File.WriteAllBytes(handBuilt, expected.ToArray());
        using (var f = SafetensorsFile.Open(handBuilt))
        {
            Assert.Equal("pt", f.Metadata!["format"]);
            using var b = f.Load("b");
            using var c = f.Load("c");
            using var a = f.Load("a");
            Assert.Equal(new[] { 1.5f, -2f }, b.data<float>().ToArray());
            Assert.Equal(3f, c.to(ScalarType.Float32).item<float>());
            Assert.Equal(new byte[] { 7, 255 }, a.data<byte>().ToArray());

            string ours = dir.File("ours.safetensors");
            SafetensorsWriter.Write(ours, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b, ["c"] = c },
                new Dictionary<string, string> { ["format"] = "pt" });
            Assert.Equal(expected.ToArray(), File.ReadAllBytes(ours));
        }
    }

    [Fact]
    public void MatchesTheSpecExampleWithoutPadding()
    {
        // {"attn.0": float32 [1, 2, 3] = 0..5}: header is exactly 64 bytes, so no padding.
        string header = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
        Assert.Equal(64, header.Length);
        var expected = Safetensors(header, F32(0, 1, 2, 3, 4, 5));
        using var dir = new TempDir();
        string path = dir.File("attn.safetensors");
        using var t = torch.arange(6, ScalarType.Float32).reshape(1, 2, 3);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["attn.0"] = t });
        Assert.Equal(expected, File.ReadAllBytes(path));
    }

    [Fact]
    public void EmptyFileWithMetadataMatchesReference()
    {
        // serialize({}, {"framework": "pt"}) -> 40-byte header: 35 chars + 5 spaces.
        var expected = Safetensors("{\"__metadata__\":{\"framework\":\"pt\"}}", []);
        Assert.Equal(8 + 40, expected.Length);
        using var dir = new TempDir();
        string path = dir.File("e.safetensors");
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor>(), new Dictionary<string, string> { ["framework"] = "pt" });
        Assert.Equal(expected, File.ReadAllBytes(path));
        using var f = SafetensorsFile.Open(path);
        Assert.Empty(f.Keys);
    }
}
