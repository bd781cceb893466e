using System.Text.Json;
using Deem.Data.Formats;
using Deem.Inference;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Tests.Inference;

/// <summary>Region prompts through the mask-aware extractor, mask files, and the library API.</summary>
public class RegionAndPipelineTests
{
    static DeemPipeline Stage3Pipeline(ulong seed)
    {
        var (config, tokenizer) = InferenceFixtures.WithTokenizer();
        var model = InferenceFixtures.Model(seed, diffusion: false, maskAlign: true, config: config);
        return new DeemPipeline(model, tokenizer);
    }

    static Tensor FirstLogits(DeemPipeline p, InterleavedPrompt prompt)
    {
        using var batch = PromptBatch.Create([prompt], p.Model.Tokens, p.Model.Config.ImageTokens);
        using var session = DecoderSession.Start(p.Model, batch, useCache: true);
        return session.Logits.clone();
    }

    [Fact]
    public void TheRegionMaskChangesTheLogitsAndAWrongSizedMaskIsResized()
    {
        using var scope = NewDisposeScope();
        using var p = Stage3Pipeline(1);
        var image = rand(new long[] { 3, 80, 96 }, generator: new TorchSharp.torch.Generator(2));
        var left = zeros(80, 96);
        left[.., ..40] = 1;
        var right = zeros(80, 96);
        right[.., 56..] = 1;
        var a = FirstLogits(p, p.RegionPrompt(image, left));
        var b = FirstLogits(p, p.RegionPrompt(image, right));
        Assert.False(a.allclose(b, rtol: 1e-4, atol: 1e-4));
        // The same region at half size is brought to the image size (nearest) first.
        var half = nn.functional.interpolate(left.view(1, 1, 80, 96), [40, 48], mode: InterpolationMode.Nearest)[0, 0];
        Assert.True(FirstLogits(p, p.RegionPrompt(image, half)).allclose(a, rtol: 1e-5, atol: 1e-5));
        Assert.IsType<string>(p.Describe(image, left, options: new GenerationOptions(MaxNewTokens: 3)));
        // The prompt holds the whole image, then the region, as reference §5.3 lays it out.
        var prompt = p.RegionPrompt(image, left);
        Assert.Equal(2, prompt.CountImages(p.Model.Tokens));
        Assert.Equal(1f, prompt.RegionMasks![0].min().item<float>());
        Assert.True(prompt.Images![0].eq(prompt.Images[1]).all().item<bool>());
    }

    [Fact]
    public void RegionPromptsNeedAMaskAlignModelAndATwoDimensionalMask()
    {
        using var scope = NewDisposeScope();
        using var p = Stage3Pipeline(3);
        var image = rand(3, 64, 64);
        var e = Assert.Throws<DeemFormatException>(() => p.RegionPrompt(image, ones(2, 64, 64)));
        Assert.Contains("2-D", e.Message);
        var (config, tokenizer) = InferenceFixtures.WithTokenizer();
        using var plain = new DeemPipeline(InferenceFixtures.Model(4, config: config), tokenizer);
        Assert.Throws<ModelCapabilityException>(() => plain.RegionPrompt(image, ones(64, 64)));
    }

    [Fact]
    public void MaskFilesReadPngRleAndPolygonsAndNameTheFileOnError()
    {
        using var scope = NewDisposeScope();
        var dir = InferenceFixtures.TempDir();
        var grid = new byte[6 * 5];
        for (int y = 1; y < 4; y++) for (int x = 2; x < 5; x++) grid[y * 5 + x] = 1;
        var rle = CocoRle.Encode(grid, 6, 5);
        var rlePath = Path.Combine(dir, "rle.json");
        File.WriteAllText(rlePath, JsonSerializer.Serialize(new { size = new[] { 6, 5 }, counts = rle.ToCompressedString() }));
        var fromRle = RegionMaskFiles.Read(rlePath);
        Assert.Equal(grid.Select(b => (float)b).ToArray(), fromRle.data<float>().ToArray());

        var polyPath = Path.Combine(dir, "poly.json");
        File.WriteAllText(polyPath, JsonSerializer.Serialize(new { height = 20, width = 30, segmentation = new[] { new[] { 5f, 5f, 15f, 5f, 15f, 15f, 5f, 15f } } }));
        var poly = RegionMaskFiles.Read(polyPath);
        Assert.Equal(new long[] { 20, 30 }, poly.shape);
        Assert.InRange(poly.sum().item<float>(), 90f, 121f);   // the 10 × 10 square, edges by the rasteriser's rule

        var pngPath = Path.Combine(dir, "mask.png");
        var rgb = zeros(3, 8, 8);
        rgb[.., 2..6, 2..6] = 1;
        ImageOutputs.SavePng(rgb, pngPath);
        Assert.Equal(16f, RegionMaskFiles.Read(pngPath).sum().item<float>());

        var bad = Path.Combine(dir, "cube.json");
        File.WriteAllText(bad, "{\"size\": [4, 4, 4], \"counts\": [64]}");
        var e = Assert.Throws<DeemFormatException>(() => RegionMaskFiles.Read(bad));
        Assert.Contains(bad, e.Message);
        Assert.Contains("2-D", e.Message);
        var junk = Path.Combine(dir, "junk.png");
        File.WriteAllText(junk, "not an image");
        Assert.Contains(junk, Assert.Throws<DeemFormatException>(() => RegionMaskFiles.Read(junk)).Message);
        Assert.Contains("not found", Assert.Throws<DeemFormatException>(() => RegionMaskFiles.Read(Path.Combine(dir, "none.png"))).Message);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void PipelineAsksCaptionsAndChatsWithHistory()
    {
        using var scope = NewDisposeScope();
        var (config, tokenizer) = InferenceFixtures.WithTokenizer();
        using var p = new DeemPipeline(InferenceFixtures.Model(5, config: config), tokenizer);
        var image = rand(3, 70, 50);
        var answer = p.Ask([image], "What color is the square?", new GenerationOptions(MaxNewTokens: 4));
        Assert.Equal(answer, p.Ask([image], "What color is the square?", new GenerationOptions(MaxNewTokens: 4)));
        Assert.IsType<string>(p.Caption(image, new GenerationOptions(MaxNewTokens: 3, NumBeams: 2)));

        var chat = p.Chat(new GenerationOptions(MaxNewTokens: 4));
        chat.AttachImage(image);
        var first = string.Concat(chat.Send("What is in the picture?"));
        Assert.Single(chat.Turns);
        Assert.Equal(first.Trim(), chat.Turns[0].Assistant);
        var second = chat.Prompt("And the color?");
        Assert.Equal(1, second.CountImages(p.Model.Tokens));   // the first turn's image stays in the history
        chat.Reset();
        Assert.Empty(chat.Turns);
        Assert.Equal(0, chat.Prompt("Hello").CountImages(p.Model.Tokens));
    }
}
