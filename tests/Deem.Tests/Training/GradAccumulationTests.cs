using Deem.World;
using Deem.Config;
using Deem.Data.Pipeline;
using Deem.Model;
using Deem.Tests.Data;
using Deem.Text;
using Deem.Training;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>
/// Gradient accumulation: k micro-batches each adding ∇(loss / k) equal one batch of all rows when the
/// loss is a mean whose denominator splits evenly, here NTP over rows with the same number of learned
/// tokens and one image each. (NTP is a mean over each micro-batch's learned tokens, so micro-batches
/// with different token counts weigh tokens differently than one big batch would, as in the HF trainer;
/// NIP and CSR draw noise and timesteps per call, so the test weighs them 0, and stochastic depth draws
/// per row in call order, so the model runs in eval mode.)
/// </summary>
[Collection(TrainingCollection.Name)]
public class GradAccumulationTests(TrainingWorld world)
{
    static DeemBatch Rows(DeemConfig config, long[][] words, Tensor images)
    {
        var t = config.Tokens;
        var rows = words.Select(w => new long[] { t.Bos, t.Soi }.Concat(Enumerable.Repeat((long)t.Image, config.ImageTokens)).Concat(w).Append(t.Eos).ToArray()).ToArray();
        var ids = tensor(rows.SelectMany(r => r).ToArray()).view(rows.Length, -1);                       // [B, L]
        return new DeemBatch
        {
            Ids = ids, AttentionMask = ones_like(ids), ImagesEnc = images.clone(), ImagesDec = images.clone(),
            ImagesPerSequence = rows.Select(_ => 1L).ToArray(), Sources = rows.Select(_ => "test").ToArray(),
        };
    }

    static Dictionary<string, Tensor> Gradients(DeemModel model) => model.named_parameters()
        .Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.clone());

    [Fact]
    public void TwoMicroBatchesOfOneEqualOneBatchOfTwo()
    {
        var stage = TrainingWorld.Stage(1, 4) with { NipWeight = 0, CsrWeight = 0 };
        var config = WorldPresets.Tiny;
        using var g = new Generator(5);
        var images = rand(new long[] { 2, 3, config.EncoderResolution, config.EncoderResolution }, generator: g);
        long[][] words = [[10, 11, 12, 13], [20, 21, 22, 23]];

        Dictionary<string, Tensor> Run(Action<Trainer> accumulate)
        {
            using var model = TrainingWorld.Model(stage, seed: 0);
            using var data = world.Stream(stage);
            using var dir = new TempDir();
            using var trainer = new Trainer(model, WorldTokenizer.Default, stage, data, new TrainerOptions { OutDir = dir.Path, TensorBoard = false });
            model.eval();   // no stochastic depth: its draws depend on how rows are split into batches
            trainer.ClearGradients();
            accumulate(trainer);
            return Gradients(model);
        }

        var whole = Run(t => { using var b = Rows(config, words, images); t.Accumulate(b, 1.0); });
        var split = Run(t =>
        {
            for (int i = 0; i < 2; i++)
            {
                using var b = Rows(config, [words[i]], images.narrow(0, i, 1));
                t.Accumulate(b, 0.5);
            }
        });

        Assert.Equal(whole.Keys.Order(), split.Keys.Order());
        Assert.Contains(whole.Values, v => v.abs().max().item<float>() > 1e-4);
        foreach (var k in whole.Keys)
        {
            double diff = (whole[k] - split[k]).abs().max().item<float>();
            double scale = Math.Max(1.0, whole[k].abs().max().item<float>());
            Assert.True(diff <= 1e-5 * scale, $"{k}: max abs gradient difference {diff}");
        }
    }
}
