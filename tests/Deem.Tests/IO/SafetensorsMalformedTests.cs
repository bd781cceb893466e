using Deem.IO;
using static Deem.Tests.IO.IoTestUtil;

namespace Deem.Tests.IO;

/// <summary>One hand-built malformed file per failure mode; each must raise a typed error naming file and problem.</summary>
public class SafetensorsMalformedTests
{
    static DeemFormatException OpenBad(byte[] bytes, params string[] mustMention)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<DeemFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(path, ex.File);
        Assert.Contains(path, ex.Message);
        foreach (var m in mustMention) Assert.Contains(m, ex.Message);
        return ex;
    }

    static string Entry(string name, string dtype, string shape, string offsets) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":{offsets}}}";

    [Fact]
    public void FileShorterThanEightBytes() => OpenBad([1, 0, 0], "shorter than the 8-byte header length");

    [Fact]
    public void HeaderLengthPastEndOfFile() =>
        OpenBad(Safetensors("{}", [], declaredLength: 4096), "header length 4096 runs past the end of the file");

    [Fact]
    public void HeaderNotJson() => OpenBad(Safetensors("{\"w\": [1,2", []), "header is not valid UTF-8 JSON");

    [Fact]
    public void HeaderNotAnObject() => OpenBad(Safetensors("[1, 2, 3]", []), "header must be a JSON object, found Array");

    [Theory]
    [InlineData("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "'dtype'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "'shape'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", "'data_offsets'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "'data_offsets'")]
    [InlineData("{\"w\":7}", "entry must be an object")]
    public void EntryMissingFields(string header, string field)
    {
        var ex = OpenBad(Safetensors(header, F32(1)), field, "'w'");
        Assert.Equal("w", ex.Key);
    }

    [Fact]
    public void UnknownDtype()
    {
        var ex = OpenBad(Safetensors("{" + Entry("layer.w", "F99", "[1]", "[0,4]") + "}", F32(1)),
            "unknown or unsupported dtype 'F99'", "'layer.w'");
        Assert.Equal("layer.w", ex.Key);
    }

    [Fact]
    public void OffsetsPastEndOfData() =>
        OpenBad(Safetensors("{" + Entry("w", "F32", "[2]", "[0,8]") + "}", F32(1)),
            "'w'", "data_offsets [0, 8] run past the end of the data section (4 bytes)");

    [Fact]
    public void OffsetsBeginAfterEnd() =>
        OpenBad(Safetensors("{" + Entry("w", "F32", "[1]", "[4,0]") + "}", F32(1, 2)), "'w'", "begin 4 > end 0");

    [Fact]
    public void OverlappingOffsets()
    {
        string header = "{" + Entry("a", "F32", "[2]", "[0,8]") + "," + Entry("b", "F32", "[2]", "[4,12]") + "}";
        OpenBad(Safetensors(header, F32(1, 2, 3)), "'b'", "overlap those of 'a' (which end at 8)");
    }

    // The reference (Metadata::validate, read_metadata) rejects every byte of the data section that no
    // tensor references: a gap before, between or after the tensors.
    [Fact]
    public void GapBetweenTensors()
    {
        string header = "{" + Entry("a", "F32", "[1]", "[0,4]") + "," + Entry("b", "F32", "[1]", "[8,12]") + "}";
        OpenBad(Safetensors(header, F32(1, 2, 3)), "'b'", "gap of 4 unreferenced bytes after 'a'");
    }

    [Fact]
    public void GapBeforeTheFirstTensor() =>
        OpenBad(Safetensors("{" + Entry("w", "F32", "[1]", "[4,8]") + "}", F32(1, 2)), "'w'", "gap of 4 unreferenced bytes after the header");

    [Fact]
    public void TrailingUnreferencedBytes() =>
        OpenBad(Safetensors("{" + Entry("w", "F32", "[1]", "[0,4]") + "}", F32(1, 2)), "the tensors cover 4 of the 8 data bytes");

    [Fact]
    public void EmptyTensorOutsideTheSequence() =>
        OpenBad(Safetensors("{" + Entry("w", "F32", "[1]", "[0,4]") + "," + Entry("e", "F32", "[0]", "[8,8]") + "}", F32(1, 2)),
            "'e'", "gap of 4");

    [Fact]
    public void EmptyTensorsInSequenceAreAccepted()
    {
        using var dir = new TempDir();
        string path = dir.File("ok.safetensors");
        string header = "{" + Entry("e0", "F32", "[0]", "[0,0]") + "," + Entry("w", "F32", "[1]", "[0,4]") + "," + Entry("e1", "F32", "[0,3]", "[4,4]") + "}";
        File.WriteAllBytes(path, Safetensors(header, F32(5)));
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(3, f.Keys.Count);
    }

    [Fact]
    public void ShapeByteMismatch() =>
        OpenBad(Safetensors("{" + Entry("w", "F32", "[3]", "[0,8]") + "}", F32(1, 2)),
            "'w'", "shape/byte mismatch", "needs 12 bytes", "hold 8");

    [Fact]
    public void NegativeDimension() =>
        OpenBad(Safetensors("{" + Entry("w", "F32", "[-1,4]", "[0,0]") + "}", []), "'w'", "negative dimension -1");

    [Fact]
    public void MetadataValueNotString() =>
        OpenBad(Safetensors("{\"__metadata__\":{\"epoch\":3}}", []), "__metadata__ value 'epoch' must be a string");

    [Fact]
    public void BoolByteOtherThanZeroOrOneFailsOnLoad()
    {
        using var dir = new TempDir();
        string path = dir.File("mask.safetensors");
        File.WriteAllBytes(path, Safetensors("{" + Entry("mask", "BOOL", "[3]", "[0,3]") + "}", [1, 0, 7]));
        using var f = SafetensorsFile.Open(path);
        var ex = Assert.Throws<DeemFormatException>(() => f.Load("mask"));
        Assert.Equal("mask", ex.Key);
        Assert.Contains("BOOL element 2 holds byte 7", ex.Message);
    }

    [Fact]
    public void ValidFileStillOpens()
    {
        // Control for the cases above: the same builder with a consistent header is accepted.
        using var dir = new TempDir();
        string path = dir.File("ok.safetensors");
        File.WriteAllBytes(path, Safetensors("{" + Entry("w", "F32", "[2]", "[0,8]") + "}", F32(1, 2)));
        using var f = SafetensorsFile.Open(path);
        using var w = f.Load("w");
        Assert.Equal(new[] { 1f, 2f }, w.data<float>().ToArray());
    }
}
