using Deem.World;
using System.Text.Json.Nodes;
using Deem.Config;
using Deem.Tests.Data;

namespace Deem.Tests.Config;

/// <summary><c>deem_config.json</c> is read whole: a missing or null field and an out-of-range value are one-line errors naming the field.</summary>
public class DeemConfigFileTests
{
    static DeemConfigException LoadEdited(Action<JsonObject> edit)
    {
        using var dir = new TempDir();
        var path = dir["deem_config.json"];
        var json = JsonNode.Parse(ConfigJson.ToJson(WorldPresets.Tiny))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<DeemConfigException>(() => DeemConfig.Load(path));
        Assert.StartsWith(path + ": field '", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void TheTinyConfigRoundTrips()
    {
        using var dir = new TempDir();
        var path = dir["deem_config.json"];
        WorldPresets.Tiny.Save(path);
        Assert.Equal(ConfigJson.ToJson(WorldPresets.Tiny), ConfigJson.ToJson(DeemConfig.Load(path)));
    }

    // Edits the config's JSON text (not its object model), for what a JsonObject cannot hold.
    static DeemConfigException LoadText(Func<string, string> edit)
    {
        using var dir = new TempDir();
        var path = dir["deem_config.json"];
        File.WriteAllText(path, edit(ConfigJson.ToJson(WorldPresets.Tiny)));
        var e = Assert.Throws<DeemConfigException>(() => DeemConfig.Load(path));
        Assert.StartsWith(path + ": field '", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void ADuplicateKeyIsAnError()
    {
        var e = LoadText(json => json.Replace("\"encoder_resolution\":", "\"encoder_resolution\": 64, \"encoder_resolution\":"));
        Assert.Contains("Duplicate property 'encoder_resolut", e.Message);      // System.Text.Json shortens long names
    }

    [Fact]
    public void ANumberBeyondDoubleIsNamed()
    {
        var e = LoadText(json => json.Replace("\"csr_weight\":", "\"csr_weight\": 1e999, \"unused_csr_weight\":"));
        Assert.Equal("csr_weight", e.Field);
        Assert.Contains("not a finite number", e.Message);
    }

    [Theory]
    [InlineData("vision")]
    [InlineData("llm")]
    [InlineData("perceiver")]
    public void ANullSectionIsNamed(string section)
    {
        var e = LoadEdited(j => j[section] = null);
        Assert.Equal(section, e.Field);
        Assert.Contains("is null; expected an object", e.Message);
    }

    [Theory]
    [InlineData("encoder_resolution")]
    [InlineData("llm.num_hidden_layers")]
    [InlineData("vision.convnext.dims")]
    public void AMissingFieldIsNamedNotDefaulted(string field)
    {
        var e = LoadEdited(j =>
        {
            var parts = field.Split('.');
            var obj = j;
            foreach (var p in parts[..^1]) obj = obj[p]!.AsObject();
            Assert.True(obj.Remove(parts[^1]), $"the tiny config writes {field}");
        });
        Assert.Equal(field, e.Field);
        Assert.Contains("missing", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-64)]
    [InlineData(100000)]
    [InlineData(100)]
    public void AnEncoderResolutionOutOfRangeIsNamed(int resolution)
    {
        var e = LoadEdited(j => j["encoder_resolution"] = resolution);
        Assert.Equal("encoder_resolution", e.Field);
        Assert.Contains($"found {resolution}", e.Message);
    }

    [Theory]
    [InlineData("decoder_resolution", 0)]
    [InlineData("decoder_resolution", 4096)]
    [InlineData("base_vocab_size", -1)]
    public void OtherRangesAreNamed(string field, int value)
    {
        var e = LoadEdited(j => j[field] = value);
        Assert.Contains(field, e.Field);
    }
}
