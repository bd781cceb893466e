using System.Text.Json;
using Deem.Config;
using Deem.IO;
using Deem.Model;
using Deem.World.Pretraining;

namespace Deem.Tests.World.Pretraining;

/// <summary>
/// <c>Stage0.Run</c> with <c>Resume</c>: a folder killed after the LLM (its CLIP and LLM complete, a torn VAE
/// line in the log) finishes with the weights and the log of the uninterrupted fixture run; a folder trained
/// otherwise is refused, naming the file and the setting.
/// </summary>
[Collection(Stage0Collection.Name)]
public sealed class Stage0ResumeTests(Stage0Fixture world) : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "deem-stage0-resume-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }

    /// <summary>A copy of the fixture's CLIP and LLM, settings and their log lines, as a run killed in the VAE leaves them.</summary>
    string KilledInTheVae(string name)
    {
        var dir = Path.Combine(root, name);
        CopyDir(Path.Combine(world.Out, ComponentFolders.OpenClipDir), Path.Combine(dir, ComponentFolders.OpenClipDir));
        CopyDir(Path.Combine(world.Out, ComponentFolders.LlmDir), Path.Combine(dir, ComponentFolders.LlmDir));
        File.Copy(Path.Combine(world.Out, Stage0Resume.OptionsFile), Path.Combine(dir, Stage0Resume.OptionsFile));
        var lines = File.ReadAllLines(Path.Combine(world.Out, Stage0.MetricsFile));
        var upToVae = lines.TakeWhile(l => !l.Contains("\"vae\"", StringComparison.Ordinal)).ToList();
        File.WriteAllText(Path.Combine(dir, Stage0.MetricsFile), string.Join("\n", upToVae) + "\n{\"component\":\"vae\",\"step\":1,\"lo");
        return dir;
    }

    [Fact]
    public void ResumeKeepsTheCompleteComponentsAndTrainsTheRestToTheWeightsOfAnUninterruptedRun()
    {
        var dir = KilledInTheVae("killed");
        var summary = Stage0.Run(world.World, dir, Stage0Fixture.Options with { Resume = true });

        Assert.Equal(["clip", "llm"], summary.Kept!);
        Assert.Equal(world.Summary.Components.Select(c => c.Component), summary.Components.Select(c => c.Component));
        foreach (var (a, b) in world.Summary.Components.Zip(summary.Components))
            Assert.Equal(a.Losses, b.Losses);                                                  // kept: as logged; trained: the same steps
        Assert.Equal(world.Summary.VaeScalingFactor, summary.VaeScalingFactor);
        foreach (var component in new[] { VaeTrainer.Name, UNetTrainer.Name })
            AssertSameTensors(Stage0Resume.WeightsOf(world.Out, component), Stage0Resume.WeightsOf(dir, component));

        // The log is whole again: every step of every component once, in order, the torn line gone.
        static IEnumerable<(string?, int)> Steps(string folder) => File.ReadAllLines(Path.Combine(folder, Stage0.MetricsFile))
            .Select(l => JsonDocument.Parse(l).RootElement).Select(r => (r.GetProperty("component").GetString(), r.GetProperty("step").GetInt32()));
        Assert.Equal(Steps(world.Out), Steps(dir));
        Assert.True(DeemCheckpoint.Exists(dir));
    }

    [Fact]
    public void ResumeRefusesComponentsTrainedWithOtherSettings()
    {
        var dir = KilledInTheVae("other");
        var seed = Assert.Throws<DeemConfigException>(() => Stage0.Run(world.World, dir, Stage0Fixture.Options with { Resume = true, Seed = 6 }));
        Assert.Contains(Stage0Resume.OptionsFile, seed.Message);
        Assert.Contains("Seed", seed.Message);

        // Without the settings file (a folder from before it was written) the log and the configs still speak.
        File.Delete(Path.Combine(dir, Stage0Resume.OptionsFile));
        var steps = Assert.Throws<DeemConfigException>(() => Stage0.Run(world.World, dir, Stage0Fixture.Options with { Resume = true, LlmSteps = 3 }));
        Assert.Contains(Stage0.MetricsFile, steps.Message);
        Assert.Contains("llm", steps.Message);
        var side = Assert.Throws<DeemConfigException>(() => Stage0.Run(world.World, dir, Stage0Fixture.Options with { Resume = true, Resolution = 64 }));
        Assert.Contains(ComponentWriters.OpenClipConfig, side.Message);
        Assert.Contains("image_size", side.Message);
        Assert.False(File.Exists(Stage0Resume.WeightsOf(dir, VaeTrainer.Name)));               // refused before any training
    }

    static void AssertSameTensors(string expectedFile, string actualFile)
    {
        using var expected = Checkpoint.Open(expectedFile);
        using var actual = Checkpoint.Open(actualFile);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var key in expected.Keys)
        {
            using var e = expected.Load(key);
            using var a = actual.Load(key);
            Assert.True(e.shape.SequenceEqual(a.shape) && e.allclose(a, 0, 0), $"{key} differs");
        }
    }

    static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }
}
