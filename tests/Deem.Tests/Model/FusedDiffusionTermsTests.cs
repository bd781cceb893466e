using Deem.World;
using Deem.Config;
using Deem.Diagnostics;
using Deem.Model;
using Deem.Training;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Model;

/// <summary>
/// NIP and CSR in one VAE encode and one batched UNet call give the losses and gradients of the two
/// separate calls on the same draws, term by term, so each term still reaches only its own parameters.
/// Some layers (nn.Linear's default init) draw from torch's global generator: the model is built after
/// seeding it, in the collection that runs alone, so every run compares the same weights.
/// </summary>
[Collection(GlobalTorchStateCollection.Name)]
public class FusedDiffusionTermsTests
{
    // Q-Former dropout draws from torch's global generator; without it every draw comes from the input's generator.
    static DeemConfig Config => WorldPresets.Tiny with
    {
        Perceiver = WorldPresets.Tiny.Perceiver with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 },
    };

    static DeemModel Model()
    {
        manual_seed(8);
        var model = new DeemModel(Config, new Generator(8));
        FreezeSchedule.DeemStage1.Apply(model);
        // The LLM and text head trainable too, so that a stray CSR gradient into them would show.
        foreach (var (name, p) in model.named_parameters())
            if (name.StartsWith("mm_decoder.") || name.StartsWith("text_decoder.")) p.requires_grad = true;
        // MMFSNet's 1×1 output convs start at zero, which would hide the features each term reads.
        using (no_grad())
        {
            var g = new Generator(9);
            foreach (var (name, p) in model.named_parameters())
                if (name.StartsWith("visual_tokenizer.encoder.mmfs_module.") && name.EndsWith(".conv.weight")) p.normal_(0.0, 0.05, g);
        }
        model.train();
        return model;
    }

    /// <summary>Loss terms and, per term, the gradient of every trainable parameter (null where the term does not reach it).</summary>
    static (float[] Losses, Dictionary<string, Tensor?>[] Grads, IReadOnlyDictionary<string, int> Calls) Run(DeemModel model, DeemInput batch, bool fused,
        bool skipImagesWithoutContext = true)
    {
        model.FuseDiffusionTerms = fused;
        model.NipSkipsImagesWithoutContext = skipImagesWithoutContext;
        var losses = new float[3];
        var grads = new Dictionary<string, Tensor?>[3];
        var profiler = new StepProfiler();
        for (int term = 0; term < 3; term++)
        {
            // The same draws every time: CFG swap, ε_z, ε, t and stochastic depth from one fresh generator.
            var gen = new Generator(10);
            foreach (var m in model.modules()) if (m is DropPath d) d.Generator = gen;
            foreach (var p in model.parameters()) p.grad = null;
            StepProfiler.Start(profiler);
            profiler.Reset();
            try
            {
                var o = model.forward(batch with { Generator = gen });
                var t = new[] { o.Ntp, o.Nip, o.Csr }[term];
                losses[term] = t.item<float>();
                t.backward();
            }
            finally { StepProfiler.Stop(); }
            grads[term] = model.named_parameters().Where(p => p.parameter.requires_grad)
                .ToDictionary(p => p.name, p => p.parameter.grad?.detach().clone());
        }
        return (losses, grads, new Dictionary<string, int>(profiler.Calls));
    }

    [Fact]
    public void FusedStepEqualsSeparateStepTermByTerm()
    {
        using var scope = NewDisposeScope();
        using var model = Model();
        var batch = SyntheticBatch.Interleaved(Config, new Generator(11));
        var fused = Run(model, batch, fused: true);
        var separate = Run(model, batch, fused: false);

        Assert.Equal(1, fused.Calls[StepProfiler.UNet]);
        Assert.Equal(1, fused.Calls[StepProfiler.Vae]);
        Assert.Equal(2, separate.Calls[StepProfiler.UNet]);
        Assert.Equal(2, separate.Calls[StepProfiler.Vae]);

        AssertSameTerms(separate, fused);

        // CSR's gradient: the encoder, perceiver, proj_i and MMFSNet; never the LLM, text head, image decoder, UNet or VAE.
        var csr = fused.Grads[2];
        bool Reached(string prefix) => csr.Any(kv => kv.Key.StartsWith(prefix) && kv.Value is not null && kv.Value.abs().sum().item<float>() > 0);
        Assert.True(Reached("visual_tokenizer.sniffer.vision_model.visual.trunk."), "ConvNeXt trunk");
        Assert.True(Reached("visual_tokenizer.perceiver_resampler."), "perceiver");
        Assert.True(Reached("visual_tokenizer.proj_i."), "proj_i");
        Assert.True(Reached("visual_tokenizer.encoder.mmfs_module."), "MMFSNet");
        foreach (var prefix in new[] { "mm_decoder.", "text_decoder.", "image_decoder.", "context_feat_proj.", "visual_tokenizer.proj_t.", "soi_token" })
            Assert.False(Reached(prefix), $"CSR reached {prefix}");
        Assert.DoesNotContain(csr.Keys, k => k.StartsWith("visual_tokenizer.encoder.unet.") || k.StartsWith("visual_tokenizer.encoder.vae."));
        // NIP's gradient reaches the image decoder, which CSR never does.
        Assert.Contains(fused.Grads[1], kv => kv.Key.StartsWith("image_decoder.") && kv.Value is not null && kv.Value.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void NipOverTheImagesWithContextEqualsTheAuthorsZeroWeightedMeanOverAll()
    {
        using var scope = NewDisposeScope();
        using var model = Model();
        var batch = SyntheticBatch.Interleaved(Config, new Generator(11));
        // The batch holds both kinds: two images after text, one that opens its document (NIP weight 0).
        var isCond = Deem.Diffusion.ImageDecoderContext.Extract(zeros(batch.Ids.shape[0], batch.Ids.shape[1], 4), batch.Ids,
            Config.Tokens.Bos, Config.Tokens.Soi).IsCondImage;
        Assert.Equal([true, true, false], isCond.data<bool>().ToArray());
        foreach (bool fused in new[] { true, false })
            AssertSameTerms(Run(model, batch, fused, skipImagesWithoutContext: false), Run(model, batch, fused, skipImagesWithoutContext: true));
    }

    /// <summary>Every loss term and every gradient of <paramref name="actual"/> equal those of <paramref name="expected"/>.</summary>
    static void AssertSameTerms((float[] Losses, Dictionary<string, Tensor?>[] Grads, IReadOnlyDictionary<string, int> Calls) expected,
        (float[] Losses, Dictionary<string, Tensor?>[] Grads, IReadOnlyDictionary<string, int> Calls) actual)
    {
        for (int term = 0; term < 3; term++)
        {
            Assert.True(actual.Losses[term] > 0);
            Assert.Equal(expected.Losses[term], actual.Losses[term], 1e-6 * Math.Abs(expected.Losses[term]) + 1e-7);
            // Float32 sums in another order differ by about 1e-6 of the term's largest gradient (measured: ≤ 1.5e-6); a
            // parameter whose gradient is a sum with cancellation (an MMFS gate) is held to that floor, not to its own size.
            double termScale = expected.Grads[term].Values.Where(g => g is not null).Select(g => (double)g!.abs().max().item<float>()).DefaultIfEmpty(0).Max();
            foreach (var (name, e) in expected.Grads[term])
            {
                var a = actual.Grads[term][name];
                if (e is null || a is null)
                {
                    // A parameter one path leaves untouched must be untouched (or exactly zero) in the other.
                    var other = e ?? a;
                    Assert.True(other is null || other.abs().max().item<float>() == 0, $"term {term}: {name} reached by only one path");
                    continue;
                }
                double scale = e.abs().max().item<float>() + 1e-12;
                double diff = (a - e).abs().max().item<float>();
                Assert.True(diff <= 1e-4 * scale + 1e-5 * termScale + 1e-9, $"term {term}: {name} differs by {diff:E2} (max |g| {scale:E2}, term's max {termScale:E2})");
            }
        }
    }
}
