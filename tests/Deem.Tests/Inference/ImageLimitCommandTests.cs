using System.CommandLine;
using Deem.Cli;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Tests.Inference;

/// <summary><c>deem ask</c> refuses an out-of-bounds image with one line naming it and exit 2, before decoding it.</summary>
public class ImageLimitCommandTests
{
    [Fact]
    public void AskRefusesAStripAndAHugeHeaderInOneLine()
    {
        using var scope = NewDisposeScope();
        var dir = InferenceFixtures.TempDir();
        var (config, tokenizer) = InferenceFixtures.WithTokenizer();
        using (var model = InferenceFixtures.Model(2, config: config))
            DeemCheckpoint.Save(Path.Combine(dir, "model"), model, tokenizer);
        var strip = Path.Combine(dir, "strip.png");
        File.WriteAllBytes(strip, Deem.Tests.Data.ImageLimitsTests.StripPng());
        var huge = Path.Combine(dir, "huge.png");
        File.WriteAllBytes(huge, Deem.Tests.Data.ImageLimitsTests.HugeHeaderPng());

        foreach (var (path, why) in new[] { (strip, "aspect ratio"), (huge, "pixel limit") })
        {
            var output = new StringWriter();
            var error = new StringWriter();
            var root = new RootCommand { AskCommand.Create() };
            int code = root.Parse(["ask", "--model", Path.Combine(dir, "model"), "--image", path, "What is it?"])
                .Invoke(new InvocationConfiguration { Output = output, Error = error });
            Assert.Equal(2, code);
            Assert.Equal("", output.ToString());
            var line = Assert.Single(error.ToString().TrimEnd('\n').Split('\n'));
            Assert.Contains(path, line);
            Assert.Contains(why, line);
        }
    }
}
