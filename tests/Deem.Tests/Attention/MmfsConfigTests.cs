using Deem.Config;

namespace Deem.Tests.Attention;

public class MmfsConfigTests
{
    [Fact]
    public void PresetsAreValidAndHaveThePaperShapes()
    {
        foreach (var c in new[] { MmfsConfig.LlmPaper7B, MmfsConfig.MmfsNetPaper, MmfsConfig.LlmTiny, MmfsConfig.MmfsNetTiny })
            c.Validate("preset");
        Assert.Equal(1024, MmfsConfig.LlmPaper7B.InnerDim);
        Assert.Equal(64, MmfsConfig.LlmPaper7B.HeadDim);
        Assert.Equal(1024, MmfsConfig.MmfsNetPaper.InnerDim);
    }

    [Fact]
    public void JsonUsesTheReferenceArgumentNamesAndRoundTrips()
    {
        var json = ConfigJson.ToJson(MmfsConfig.LlmPaper7B);
        Assert.Contains("\"max_num_image_per_seq\": 50", json);
        Assert.Contains("\"base_spatial_shape\": 16", json);
        Assert.DoesNotContain("InnerDim", json);
        var back = ConfigJson.Parse<MmfsConfig>(json, "mmfs.json");
        Assert.Equal(MmfsConfig.LlmPaper7B with { SpatialShapes = back.SpatialShapes }, back);
        Assert.Equal(new long[] { 32, 16, 8 }, back.SpatialShapes);
    }

    [Theory]
    [InlineData("{\"n_levels\": 2, \"spatial_shapes\": [8]}", "spatial_shapes")]
    [InlineData("{\"d_model\": 64, \"ratio\": 0.5, \"n_heads\": 5}", "n_heads")]
    [InlineData("{\"d_model\": 10, \"ratio\": 0.25}", "ratio")]
    [InlineData("{\"max_num_image_per_seq\": 1}", "max_num_image_per_seq")]
    public void ImpossibleValuesNameTheField(string json, string field)
    {
        var c = ConfigJson.Parse<MmfsConfig>(json, "mmfs.json");
        var e = Assert.Throws<DeemConfigException>(() => c.Validate("mmfs.json"));
        Assert.Equal(field, e.Field);
    }
}
