using Deem.Config;
using Deem.Model;
using Deem.Tests.Data;
using Deem.Training;
using Deem.World;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>
/// <see cref="TrainingRun.Open"/> and <see cref="TrainingSetup.BuildModel"/>: an <c>--init</c> folder read through
/// <see cref="DeemCheckpoint.Open"/>, built as another architecture, and a recipe's λ_CSR replaced.
/// </summary>
[Collection(TrainingCollection.Name)]
public class TrainingRunTests(TrainingWorld world)
{
    [Fact]
    public void AnInitFolderBuiltAsLlavaKeepsThePartsBothShare()
    {
        var stage = TrainingWorld.Stage(1, 2);
        using var dir = new TempDir();
        Dictionary<string, TorchSharp.torch.Tensor> saved;
        using (var deem = TrainingWorld.Model(stage, seed: 0))
        {
            DeemCheckpoint.Save(dir.Path, deem, WorldTokenizer.Default);
            saved = TrainingWorld.Snapshot(deem);
        }

        var (model, tokenizer, report) = TrainingSetup.BuildModel("tiny", stage, dir.Path, seed: 1, tokenizer: null, arch: "llava");
        using (model)
        {
            Assert.Equal(("llava", "tiny-llava"), (model.Config.Arch, model.Config.Name));
            Assert.Equal(WorldTokenizer.Default.VocabSize, tokenizer.VocabSize);
            Assert.NotNull(report);
            Assert.NotEmpty(report.Missing);                       // the MLP projector starts fresh
            Assert.NotEmpty(report.Unexpected);                    // MMFS layers and the image decoder are dropped
            Assert.All(report.Missing, k => Assert.False(saved.ContainsKey(k), k));
            var loaded = TrainingWorld.Snapshot(model);
            Assert.Contains(report.Loaded, k => k.StartsWith("visual_tokenizer.sniffer.", StringComparison.Ordinal));
            Assert.All(report.Loaded.Where(loaded.ContainsKey), k => Assert.True(loaded[k].equal(saved[k]).all().item<bool>(), k));
        }
    }

    [Fact]
    public void WithArchNamesTheModelAsThePresetsDo()
    {
        var tiny = WorldPresets.Tiny;
        var llava = TrainingSetup.WithArch(tiny, "llava");
        Assert.Equal(("llava", "tiny-llava"), (llava.Arch, llava.Name));
        Assert.Equal(tiny, TrainingSetup.WithArch(llava, "deem"));
        Assert.Same(tiny, TrainingSetup.WithArch(tiny, "deem"));
        Assert.Throws<DeemConfigException>(() => TrainingSetup.WithArch(tiny, "gpt"));
    }

    [Fact]
    public void AnArchitectureIsCheckedBeforeAnyFileIsRead()
    {
        TrainingSetup.CheckArch(null, null);
        TrainingSetup.CheckArch("llava", "no-such-folder");                      // the folder is read later, by BuildModel
        Assert.Contains("must be deem or llava, found 'gpt'", Assert.Throws<DeemConfigException>(() => TrainingSetup.CheckArch("gpt", "f")).Message);
        Assert.Contains("a fresh model takes its architecture from the preset",
            Assert.Throws<DeemConfigException>(() => TrainingSetup.CheckArch("llava", null)).Message);
        Assert.Contains("a fresh model takes its architecture from the preset",
            Assert.Throws<DeemConfigException>(() => TrainingSetup.BuildModel("tiny", StageConfig.Load("tiny", "stage1"), null, 0, null, arch: "deem")).Message);
    }

    [Fact]
    public void ACsrWeightReplacesTheRecipesAndANegativeOneIsRefused()
    {
        using var dir = new TempDir();
        TrainingRunOptions Options(double csr) => new()
        {
            OutDir = dir.Path, Data = world.Paths, Stage = 2, Steps = 1, Seed = 0, CsrWeight = csr, Tokenizer = WorldTokenizer.Default,
            Trainer = new TrainerOptions { OutDir = "", EvalEvery = 0, TensorBoard = false },
        };
        Assert.NotEqual(0.0, TrainingSetup.StageConfigFor("tiny", 2).CsrWeight);
        using (var run = TrainingRun.Open(Options(0.0)))
            Assert.Equal(0.0, run.Stage.CsrWeight);
        var e = Assert.Throws<DeemConfigException>(() => TrainingRun.Open(Options(-1)));
        Assert.Contains("--csr-weight", e.Message);
    }

    [Fact]
    public void EvalBatchesReplaceTheRecipesAndAreDrawnWithTheirYesNoTokens()
    {
        using var dir = new TempDir();
        TrainingRunOptions Options(int? batches) => new()
        {
            OutDir = dir.Path, Data = world.Paths, Stage = 2, Steps = 1, Seed = 0, EvalBatches = batches, Tokenizer = WorldTokenizer.Default,
            Trainer = new TrainerOptions { OutDir = "", EvalEvery = 1, TensorBoard = false },
        };
        int recipe = TrainingSetup.StageConfigFor("tiny", 2).EvalBatches;
        using (var run = TrainingRun.Open(Options(null)))
            Assert.Equal(recipe, run.Eval!.Count);
        using (var run = TrainingRun.Open(Options(recipe + 3)))
        {
            Assert.Equal(recipe + 3, run.Stage.EvalBatches);
            Assert.Equal(recipe + 3, run.Eval!.Count);
            Assert.True(run.Eval.Evaluate(run.Model, run.Stage, 0).YesNoAnswers > 0);
        }
        var e = Assert.Throws<DeemConfigException>(() => TrainingRun.Open(Options(0)));
        Assert.Contains("--eval-batches", e.Message);
    }
    [Fact]
    public void AModelMadeAtAnotherResolutionTrainsAtItsOwnAndThePapersStagesKeepTheirs()
    {
        // The tiny recipe follows the model: an --init folder at 96 px reads and rebuilds 96-px images.
        using var dir = new TempDir();
        var stage = TrainingWorld.Stage(2, 1);
        manual_seed(0);
        using (var deem = new DeemModel(TrainingSetup.ModelConfigFor(WorldPresets.Tiny with { EncoderResolution = 96, DecoderResolution = 96 }, stage),
                   new Generator(0)))
            DeemCheckpoint.Save(dir.Path, deem, WorldTokenizer.Default);
        using var run = TrainingRun.Open(new TrainingRunOptions
        {
            OutDir = Path.Combine(dir.Path, "run"), Data = world.Paths, Stage = 2, Steps = 1, Seed = 0, Init = dir.Path,
            Trainer = new TrainerOptions { OutDir = "", EvalEvery = 0, TensorBoard = false },
        });
        var recipe = TrainingSetup.StageConfigFor("tiny", 2);
        Assert.Equal((64, 64), (recipe.EncoderResolution, recipe.DecoderResolution));
        Assert.Equal((96, 96), (run.Stage.EncoderResolution, run.Stage.DecoderResolution));
        using (var batch = run.Data.Next())
            Assert.Equal((96L, 96L), (batch.ImagesEnc.shape[^1], batch.ImagesDec.shape[^1]));
        Assert.True(double.IsFinite(run.Run().Metrics[^1].Loss));

        var paper = StageConfig.Load("paper-7b", "stage2");
        Assert.False(paper.ModelResolution);
        Assert.Same(paper, paper.ForModel(WorldPresets.Tiny));
    }
}
