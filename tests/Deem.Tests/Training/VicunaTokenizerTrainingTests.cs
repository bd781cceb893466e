using Deem.Config;
using Deem.Inference;
using Deem.Model;
using Deem.Tests.Data;
using Deem.Tests.Text;
using Deem.Text;
using Deem.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>
/// A model with the real Vicuna tokenizer (32000 + 6 ids, pad 31999) trains on the world's data through the
/// same trainer, data stream, model folder and pipeline as a world model, and the folder records the kind.
/// </summary>
[Collection(TrainingCollection.Name)]
public class VicunaTokenizerTrainingTests(TrainingWorld world)
{
    [Fact]
    public void TrainsSavesLoadsAndAnswers()
    {
        var vicuna = LlamaVocabulary.FromModel;
        var stage = TrainingWorld.Stage(1, 2);
        var config = TrainingSetup.ModelConfigFor(DeemConfig.TinyFor(vicuna.Specials), stage);
        using var dir = new TempDir();
        manual_seed(3);
        using var model = new DeemModel(config, new Generator(3));
        TrainResult result;
        using (var data = TrainingSetup.OpenStream(stage, world.Paths, vicuna, config.ImageTokens, strict: true))
        using (var trainer = new Trainer(model, vicuna, stage, data, new TrainerOptions { OutDir = dir.Path, Seed = 1 }))
            result = trainer.Run();
        var metrics = MetricsLog.Read(Path.Combine(dir.Path, MetricsLog.FileName));
        Assert.Equal([1, 2], metrics.Select(m => m.Step));
        Assert.All(metrics, m => Assert.True(double.IsFinite(m.Loss) && m.Tokens > 0 && m.Images > 0, $"step {m.Step}"));

        Assert.Equal("llama", TokenizerFiles.Load(dir.Path).Kind);
        using var pipeline = DeemPipeline.Load(dir.Path);
        pipeline.Model.eval();
        Assert.Equal(SpecialTokens.Paper, pipeline.Model.Tokens);
        var picture = rand(new long[] { 3, 32, 32 }, generator: new Generator(5));
        var prompt = pipeline.BuildPrompt(PromptTemplates.VqaEval("What is the red thing?", config.ImageTokens), [picture]);
        Assert.Equal(1, prompt.Ids.Count(i => i == 32000));
        Assert.Equal(config.ImageTokens, prompt.Ids.Count(i => i == 32001));
        Assert.Contains(1724L, prompt.Ids);                               // "▁What" in the Vicuna vocabulary
        // The trained model in memory (not disposed by this pipeline: the using above owns it) answers as the loaded folder does.
        model.eval();
        var inMemory = new DeemPipeline(model, vicuna);
        Assert.Equal(inMemory.Ask([picture], "What is the red thing?", GenerationOptions.Greedy(3)),
            pipeline.Ask([picture], "What is the red thing?", GenerationOptions.Greedy(3)));
    }
}
