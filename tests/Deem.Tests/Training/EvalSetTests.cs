using Deem.World;
using Deem.Model;
using Deem.Tests.Data;
using Deem.Text;
using Deem.Training;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

[Collection(TrainingCollection.Name)]
public class EvalSetTests(TrainingWorld world)
{
    /// <summary>One stage-1 batch of two sequences: captions of distinct images (an SFT batch may ask several questions of one image).</summary>
    EvalSet DistinctImages(Deem.Config.StageConfig stage1)
    {
        using var data = world.Stream(stage1 with { Seed = 3, BatchSize = 2 });
        return EvalSet.Draw(data, 1, "test world");
    }

    [Fact]
    public void ANegativeEvalIntervalIsAnErrorNamingTheOption()
    {
        var stage = TrainingWorld.Stage(1, 2);
        using var dir = new TempDir();
        using var model = TrainingWorld.Model(stage, seed: 0);
        using var data = world.Stream(stage);
        var e = Assert.Throws<Deem.DeemConfigException>(() =>
            new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir.Path, EvalEvery = -1 }));
        Assert.Contains("--eval-every", e.Message);
    }

    [Fact]
    public void EvaluatingEveryStepLeavesTheTrainedWeightsUnchanged()
    {
        const int steps = 3;
        var stage = TrainingWorld.Stage(1, steps);
        using var dirPlain = new TempDir();
        using var dirEval = new TempDir();

        Dictionary<string, Tensor> plain;
        using (var model = TrainingWorld.Model(stage, seed: 0))
        using (var data = world.Stream(stage))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dirPlain.Path, Seed = 5 }))
        {
            trainer.Run();
            plain = TrainingWorld.Snapshot(model);
        }
        Assert.False(File.Exists(Path.Combine(dirPlain.Path, EvalLog.FileName)));

        TrainResult result;
        Dictionary<string, Tensor> evaluated;
        using (var model = TrainingWorld.Model(stage, seed: 0))
        using (var data = world.Stream(stage))
        using (var evalData = world.Stream(stage with { Seed = stage.Seed + 1 }))
        using (var eval = EvalSet.Draw(evalData, 2, "test world"))
        using (var trainer = new Trainer(model, WorldTokenizer.Default, stage, data,
                   new TrainerOptions { OutDir = dirEval.Path, Seed = 5, EvalEvery = 1 }, eval: eval))
        {
            result = trainer.Run();
            evaluated = TrainingWorld.Snapshot(model);
            Assert.True(model.training);                                           // the evaluation restored train mode
        }

        // The evaluation draws from its own generators only: same weights as the run without it.
        Assert.All(plain.Keys, k => Assert.True(plain[k].equal(evaluated[k]).all().item<bool>(), k));
        Assert.Equal([0, 1, 2, 3], result.Evals.Select(e => e.Step));
        Assert.Equal(result.Evals.Select(e => (e.Step, e.Loss)), EvalLog.Read(Path.Combine(dirEval.Path, EvalLog.FileName)).Select(e => (e.Step, e.Loss)));
        Assert.All(result.Evals, e => Assert.True(e.Ntp > 0 && e.Csr > 0 && e.Batches == 2 && e.Images > 0, $"step {e.Step}"));
        // The weights moved, and so did the measured terms.
        Assert.NotEqual(result.Evals[0].Loss, result.Evals[^1].Loss);
        Assert.Contains("eval step 3:", File.ReadAllText(Path.Combine(dirEval.Path, Trainer.LogFile)));
    }

    [Fact]
    public void FixedNoiseMakesAnEvaluationRepeatableAndMeasuresTermsTheStageDoesNotWeigh()
    {
        var baseline = TrainingWorld.Stage(1, 2, noCsr: true);
        Assert.Equal(0.0, baseline.CsrWeight);
        using var model = TrainingWorld.Model(baseline, seed: 0);
        using var evalData = world.Stream(baseline with { Seed = 11 });
        using var eval = EvalSet.Draw(evalData, 2, "test world");

        model.train();
        manual_seed(123);
        var a = eval.Evaluate(model, baseline, step: 0);
        manual_seed(456);                                                          // another global state: no effect
        var b = eval.Evaluate(model, baseline, step: 0);
        Assert.Equal(a with { Seconds = 0 }, b with { Seconds = 0 });
        Assert.True(model.training);

        // The baseline does not train on CSR, yet its evaluation reports it; the total leaves it out.
        Assert.True(a.Csr > 0);
        Assert.Equal(a.Ntp * baseline.NtpWeight + a.Nip * baseline.NipWeight, a.Loss, 5);
    }

    [Fact]
    public void ShuffledImageNtpSeesWhetherTheTextUsesTheImages()
    {
        var stage = TrainingWorld.Stage(1, 2);
        using var model = TrainingWorld.Model(stage, seed: 0);
        using var eval = DistinctImages(stage);

        // At initialisation the image paths are all but closed (proj_t ~ N(0, 1e-3), MMFS gates 0).
        var closed = eval.Evaluate(model, stage, 0);
        double closedGap = Math.Abs(closed.NtpShuffled - closed.Ntp);
        Assert.True(closedGap < 5e-3, $"closed: ntp {closed.Ntp} vs shuffled {closed.NtpShuffled}");

        // (A random LLM is near-uniform over the vocabulary, so any input moves its NTP little: the
        // test is the ratio of the two gaps.)
        // Opened: a perceiver whose cross-attention carries the image (weights ~ N(0, 0.2) instead of
        // BERT's 0.02), proj_t rows of unit scale and open MMFS gates; now whose image it is matters.
        using (no_grad())
        {
            using var g = new Generator(0);
            foreach (var (name, p) in model.named_parameters())
                if (name.StartsWith("visual_tokenizer.perceiver_resampler", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal) && p.dim() == 2)
                    p.normal_(0, 0.2, g);
                else if (name == "visual_tokenizer.proj_t.weight")
                    p.normal_(0, 1.0, g);
                else if (name.EndsWith(".llama_cross_attn.gate", StringComparison.Ordinal))
                    p.fill_(1.0);
        }
        var open = eval.Evaluate(model, stage, 0);
        double openGap = Math.Abs(open.NtpShuffled - open.Ntp);
        Assert.True(openGap > 1e-3 && openGap > 20 * closedGap, $"open: ntp {open.Ntp} vs shuffled {open.NtpShuffled}; closed gap {closedGap}");
    }

    [Fact]
    public void SpreadIsZeroForIdenticalImagesAndOneForZeroMeanNoise()
    {
        using var same = ones(4, 3, 5) * 2.5;
        Assert.Equal(0.0, Deem.Training.ImageReliance.Spread(same), 6);
        using var g = new Generator(0);
        using var noise = randn([4096, 2, 3], generator: g);
        Assert.InRange(Deem.Training.ImageReliance.Spread(noise), 0.98, 1.0);
        using var offset = noise * 0.1 + 1.0;                                     // a large shared component
        Assert.InRange(Deem.Training.ImageReliance.Spread(offset), 0.09, 0.11);
    }

    [Fact]
    public void TheCsrConditionGapIsZeroExactlyWhenTheDiffusionModelCannotReadTheEncodersCode()
    {
        var stage = TrainingWorld.Stage(1, 2);
        using var model = TrainingWorld.Model(stage, seed: 0);
        using var eval = DistinctImages(stage);
        Assert.True(eval.Batches[0].ImageCount > 1);
        // The UNet reads the code through its cross-attention (attn2) and MMFSNet, whose output convs start at zero.
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name.StartsWith("visual_tokenizer.encoder.unet.", StringComparison.Ordinal) && name.Contains(".attn2.to_out.", StringComparison.Ordinal))
                    p.zero_();
        var closed = Deem.Training.ImageReliance.Measure(model, eval, stage);
        Assert.True(closed.Csr > 0);
        Assert.Equal(closed.Csr, closed.CsrShuffled);                              // same draws, a condition nobody reads
        Assert.Equal(0.0, closed.CsrGap);

        using (no_grad())
        {
            var g = new Generator(4);
            foreach (var (name, p) in model.named_parameters())
                if (name.StartsWith("visual_tokenizer.encoder.mmfs_module.", StringComparison.Ordinal) && name.EndsWith(".conv.weight", StringComparison.Ordinal))
                    p.normal_(0.0, 0.05, g);
        }
        var open = Deem.Training.ImageReliance.Measure(model, eval, stage);
        Assert.Equal(closed.Ntp, open.Ntp);                                          // MMFSNet feeds only the diffusion model
        Assert.True(Math.Abs(open.CsrGap!.Value) > 1e-4, $"gap {open.CsrGap}");     // another image's maps, another rebuild
    }

    [Fact]
    public void ImageRelianceOfAFreshModelSeesTheImagesAtTheEncoderButNotInTheText()
    {
        var stage = TrainingWorld.Stage(1, 2);
        using var model = TrainingWorld.Model(stage, seed: 0);
        using var eval = DistinctImages(stage);
        var r = Deem.Training.ImageReliance.Measure(model, eval, stage);
        Assert.Equal(eval.Batches.Sum(b => b.ImageCount), r.Images);
        Assert.InRange(r.EncoderSpread, 0.01, 1.0);                               // different images, different tokens
        Assert.InRange(r.ImageRowSpread, 0.0, 1.0);
        Assert.True(Math.Abs(r.Gap) < 5e-3, $"gap {r.Gap}");                       // closed image path at initialisation
        Assert.True(model.training);
    }

    [Fact]
    public void AnSftEvaluationScoresItsYesNoAnswersAndNotTheQuestionsWordsYesAndNo()
    {
        var sft = TrainingWorld.Stage(2, 2) with { BatchSize = 8, MaxLength = 96 };
        using var model = TrainingWorld.Model(sft, seed: 0);
        using var data = world.Stream(sft with { Seed = 5 });
        var yn = YesNoTokens.Of(WorldTokenizer.Default)!.Value;
        using var eval = EvalSet.Draw(data, 3, "test world", yn);

        // The answers, counted from the ids: "yes"/"no" at or after each row's prompt offset. POPE's questions end
        // "Please anwser yes or no", whose words lie in the prompt and are not answers.
        long answers = 0, questionWords = 0;
        foreach (var b in eval.Batches)
            for (int r = 0; r < b.Ids.shape[0]; r++)
                for (long j = 1; j < b.Ids.shape[1]; j++)
                {
                    long id = b.Ids[r, j].item<long>();
                    if (id != yn.Yes && id != yn.No || b.AttentionMask[r, j].item<long>() == 0) continue;
                    if (j >= b.PromptOffsets![r]) answers++; else questionWords++;
                }
        Assert.True(answers > 0 && questionWords > 0, $"answers {answers}, question words {questionWords}");

        var e = eval.Evaluate(model, sft, step: 0);
        Assert.Equal(answers, e.YesNoAnswers);
        Assert.InRange(e.YesNoAccuracy!.Value, 0.0, 1.0);
        Assert.InRange(e.YesNoYesRatio!.Value, 0.0, 1.0);
        // A model that always says "yes" (the text head's bias for "yes" dominates).
        using (no_grad())
            model.named_parameters().Single(p => p.name == "text_decoder.head.bias").parameter[yn.Yes].add_(100.0);
        var allYes = eval.Evaluate(model, sft, step: 0);
        Assert.Equal(1.0, allYes.YesNoYesRatio);

        // Without the tokens nothing is scored, and eval.jsonl leaves the fields out.
        using var plainData = world.Stream(sft with { Seed = 5 });
        using var plain = EvalSet.Draw(plainData, 1, "test world");
        var p = plain.Evaluate(model, sft, step: 0);
        Assert.Null(p.YesNoAccuracy);
        Assert.Equal(0, p.YesNoAnswers);
        Assert.DoesNotContain("yes_no", System.Text.Json.JsonSerializer.Serialize(p));
    }
}
