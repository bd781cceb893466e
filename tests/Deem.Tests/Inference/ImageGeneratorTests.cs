using Deem.World;
using Deem.Diffusion.Schedulers;
using Deem.Inference;
using static TorchSharp.torch;

namespace Deem.Tests.Inference;

/// <summary>Image generation: condition, classifier-free guidance, DDIM determinism and its first step, the interleaved loop.</summary>
public class ImageGeneratorTests
{
    static InterleavedPrompt ImageThenSoi(Deem.Model.DeemModel model, ulong seed)
    {
        var p = InferenceFixtures.Prompt(model, seed, 2, 1);
        return p with { Ids = [.. p.Ids, 30, 31, model.Tokens.Soi] };
    }

    [Fact]
    public void ConditionUsesThePreviousImageOfTheDocumentOnly()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(1, diffusion: true);
        var gen = new ImageGenerator(model);
        var t = model.Tokens;
        var withImage = ImageThenSoi(model, 2);
        var textOnly = new InterleavedPrompt([t.Bos, 20, 21, 22, t.Soi]);
        using var c = gen.Condition([withImage, textOnly]);
        Assert.Equal(new long[] { 2, model.Config.ImageDecoder.PerceiverConfig.NumQueries, model.Config.UNet.CrossAttentionDim }, c.Condition.shape);
        Assert.Equal(new float[] { 1f, 0f }, c.FeatureMask.reshape(-1).data<float>().ToArray());
        Assert.Equal(4, c.Features.Length);
        Assert.All(c.Features, f => Assert.Equal(0f, f[1].abs().sum().item<float>()));
        Assert.All(c.Features, f => Assert.True(f[0].abs().sum().item<float>() > 0));
    }

    [Fact]
    public void GuidanceScaleOneIsTheConditionalPredictionAndZeroTheNullOne()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(3, diffusion: true);
        var gen = new ImageGenerator(model);
        using var c = gen.Condition([ImageThenSoi(model, 4)]);
        var x = gen.InitialLatents(1, 5);
        var sd = model.Diffusion!;
        using var noGrad = no_grad();
        var t = tensor(new long[] { 500 });
        var conditional = sd.Predict(x, t, c.Condition, c.Features, c.FeatureMask);
        var unconditional = sd.Predict(x, t, model.ImageDecoder!.NullEmbedding, c.Features, c.FeatureMask);
        Assert.False(conditional.allclose(unconditional, rtol: 1e-4, atol: 1e-4));
        Assert.True(gen.GuidedPrediction(x, 500, c, 1.0).allclose(conditional, rtol: 1e-4, atol: 1e-5));
        Assert.True(gen.GuidedPrediction(x, 500, c, 0.0).allclose(unconditional, rtol: 1e-4, atol: 1e-5));
        var s = 3.5;
        Assert.True(gen.GuidedPrediction(x, 500, c, s).allclose(unconditional + s * (conditional - unconditional), rtol: 1e-4, atol: 1e-4));
    }

    [Fact]
    public void DdimIsDeterministicForASeedAndItsFirstStepFollowsTheFormula()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(6, diffusion: true);
        var gen = new ImageGenerator(model);
        using var c = gen.Condition([ImageThenSoi(model, 7)]);
        var options = new ImageGenerationOptions(Steps: 4, Scheduler: "ddim", GuidanceScale: 2.0, Seed: 11);
        Tensor? first = null;
        long firstT = -1;
        var a = gen.Generate(c, options, p => { if (p.Step == 0) { first = p.Latents.clone(); firstT = p.Timestep; } });
        var b = gen.Generate(c, options);
        var other = gen.Generate(c, options with { Seed = 12 });
        Assert.Equal(new long[] { 1, 3, model.Config.DecoderResolution, model.Config.DecoderResolution }, a.shape);
        Assert.True(a.eq(b).all().item<bool>());
        Assert.False(a.eq(other).all().item<bool>());
        Assert.True(a.min().item<float>() >= 0f && a.max().item<float>() <= 1f);

        // x_{t'} = √ᾱ_{t'}·x̂₀ + √(1 − ᾱ_{t'})·ε̂, x̂₀ = (x_t − √(1 − ᾱ_t)·ε̂)/√ᾱ_t, t' = t − 1000/4.
        var ddim = new DdimScheduler(model.Config.Scheduler);
        ddim.SetTimesteps(4);
        Assert.Equal(ddim.Timesteps[0], firstT);
        var x = gen.InitialLatents(1, 11);
        var eps = gen.GuidedPrediction(x, firstT, c, 2.0);
        var ac = ddim.AlphasCumprod.data<float>().ToArray();
        double at = ac[firstT], ap = ac[firstT - 250];
        var x0 = (x - Math.Sqrt(1 - at) * eps) / Math.Sqrt(at);
        var expected = Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap) * eps;
        Assert.True(first!.allclose(expected, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void DdpmIsSeededToo()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(8, diffusion: true);
        var gen = new ImageGenerator(model);
        using var c = gen.Condition([ImageThenSoi(model, 9)]);
        var options = new ImageGenerationOptions(Steps: 3, Scheduler: "ddpm", Seed: 1);
        int calls = 0;
        var a = gen.Generate(c, options, _ => calls++);
        Assert.Equal(3, calls);
        Assert.True(a.eq(gen.Generate(c, options)).all().item<bool>());
    }

    [Fact]
    public void SoiInTheInterleavedLoopTriggersAnImageThatJoinsTheContext()
    {
        using var scope = NewDisposeScope();
        var (config, tokenizer) = InferenceFixtures.WithTokenizer(Deem.World.WorldPresets.Tiny);
        using var model = InferenceFixtures.Model(10, diffusion: true, config: config);
        using (no_grad()) model.TextHead.HeadNewBiasParameter[0].fill_(1000.0);   // soi right away
        var codec = new PromptCodec(tokenizer, model.Tokens, model.Config.ImageTokens);
        var loop = new InterleavedGenerator(model, codec);
        var prompt = InferenceFixtures.Prompt(model, 11, 3, 1);
        var options = new InterleavedOptions(new GenerationOptions(MaxNewTokens: 5), new ImageGenerationOptions(Steps: 2, Scheduler: "ddim"), MaxImages: 1);
        var seen = new List<InterleavedPiece>();
        var r = loop.Generate(prompt, options, seen.Add);

        var image = Assert.IsType<ImagePiece>(Assert.Single(r.Pieces));
        Assert.Equal(seen, r.Pieces);
        Assert.Equal(new long[] { 3, 64, 64 }, image.Image.shape);
        Assert.Equal(StopReason.StartOfImage, r.Stop);        // the second soi hit the image limit
        var t = model.Tokens;
        int nq = model.Config.ImageTokens;
        Assert.Equal([.. prompt.Ids, t.Soi, .. Enumerable.Repeat((long)t.Image, nq)], r.Ids);
        Assert.Equal(2, r.ContextImages.Count);
        Assert.True(r.ContextImages[1].allclose(ImageInputs.ToEncoderView(image.Image, model.Config.EncoderResolution)));
    }

    [Fact]
    public void TextThenEndOfTextGivesOneTextPiece()
    {
        using var scope = NewDisposeScope();
        var (config, tokenizer) = InferenceFixtures.WithTokenizer(Deem.World.WorldPresets.Tiny);
        using var model = InferenceFixtures.Model(12, diffusion: true, config: config);
        var codec = new PromptCodec(tokenizer, model.Tokens, model.Config.ImageTokens);
        var r = new InterleavedGenerator(model, codec).Generate(InferenceFixtures.Prompt(model, 13, 3, 0),
            new InterleavedOptions(new GenerationOptions(MaxNewTokens: 4), ImageGenerationOptions.Fast, MaxTokens: 4));
        var text = Assert.IsType<TextPiece>(Assert.Single(r.Pieces));
        Assert.Equal(codec.Decode(text.Tokens), text.Text);
        Assert.True(text.Tokens.Length is > 0 and <= 4);
    }
}
