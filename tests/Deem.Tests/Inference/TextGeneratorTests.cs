using Deem.Inference;
using static TorchSharp.torch;

namespace Deem.Tests.Inference;

/// <summary>Text decoding: cache vs recomputation, beams, left-padded batches, seeded sampling, stop tokens.</summary>
public class TextGeneratorTests
{
    static GenerationOptions Forced(int n) => new(MaxNewTokens: n, MinNewTokens: n);

    [Fact]
    public void KvCachedGreedyEqualsNoCacheTokenForToken()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(1);
        var gen = new TextGenerator(model);
        var prompts = new[] { InferenceFixtures.Prompt(model, 2, 3, 2), InferenceFixtures.Prompt(model, 3, 5, 1) };
        var cached = gen.Generate(prompts, Forced(12));
        var uncached = gen.Generate(prompts, Forced(12) with { UseCache = false });
        for (int b = 0; b < prompts.Length; b++)
        {
            Assert.Equal(12, cached[b].Tokens.Length);
            Assert.Equal(uncached[b].Tokens, cached[b].Tokens);
            Assert.Equal(uncached[b].Score, cached[b].Score, tolerance: 1e-3);
        }
    }

    [Fact]
    public void SessionLogitsWithCacheMatchRecomputationAndImagesMatter()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(4);
        var prompt = InferenceFixtures.Prompt(model, 5, 2, 2);
        using var batch = PromptBatch.Create([prompt], model.Tokens, model.Config.ImageTokens);
        using var a = DecoderSession.Start(model, batch, useCache: true);
        using var b = DecoderSession.Start(model, batch, useCache: false);
        long[][] feed = [[20], [model.Tokens.Soi], [21], [model.Tokens.Bos], [22]];   // a soi and a new document on the way
        foreach (var t in feed)
        {
            a.Append(t);
            b.Append(t);
            Assert.True(a.Logits.allclose(b.Logits, rtol: 1e-4, atol: 1e-4), $"logits differ after feeding {t[0]}");
        }
        // Another image gives other logits: the new tokens do read the images.
        var other = prompt with { Images = prompt.Images! + 0.5 };
        using var batch2 = PromptBatch.Create([other], model.Tokens, model.Config.ImageTokens);
        using var c = DecoderSession.Start(model, batch2, useCache: true);
        c.Append([20]);
        using var d = DecoderSession.Start(model, batch, useCache: true);
        d.Append([20]);
        Assert.False(c.Logits.allclose(d.Logits, rtol: 1e-4, atol: 1e-4));
    }

    [Fact]
    public void BeamSearchWithOneBeamEqualsGreedy()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(6);
        var gen = new TextGenerator(model);
        var prompt = InferenceFixtures.Prompt(model, 7, 4, 1);
        var options = new GenerationOptions(MaxNewTokens: 10, LengthPenalty: 0.0);
        var greedy = gen.Generate(prompt, options);
        using var batch = PromptBatch.Create([prompt], model.Tokens, model.Config.ImageTokens);
        using var session = DecoderSession.Start(model, batch, useCache: true);
        var beam = BeamSearch.Run(session, options with { NumBeams = 1 }, gen.StopTokens, model.Tokens)[0];
        Assert.Equal(greedy.Tokens, beam.Tokens);
        Assert.Equal(greedy.Score, beam.Score, tolerance: 1e-3);
    }

    [Fact]
    public void BeamSearchReordersTheCacheLikeRecomputationAndScoresItsOwnTokens()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(8);
        var gen = new TextGenerator(model);
        var prompts = new[] { InferenceFixtures.Prompt(model, 9, 2, 1), InferenceFixtures.Prompt(model, 10, 6, 0) };
        var options = new GenerationOptions(MaxNewTokens: 8, MinNewTokens: 8, NumBeams: 3, LengthPenalty: 0.0);
        var cached = gen.Generate(prompts, options);
        var uncached = gen.Generate(prompts, options with { UseCache = false });
        for (int b = 0; b < prompts.Length; b++)
        {
            Assert.Equal(uncached[b].Tokens, cached[b].Tokens);
            Assert.Equal(8, cached[b].Tokens.Length);
            // The returned score is the hypothesis' own Σ log p, recomputed by teacher forcing.
            using var batch = PromptBatch.Create([prompts[b]], model.Tokens, model.Config.ImageTokens);
            using var session = DecoderSession.Start(model, batch, useCache: true);
            double sum = 0;
            foreach (var t in cached[b].Tokens)
            {
                sum += session.Logits.log_softmax(-1)[0, t].item<float>();
                session.Append([t]);
            }
            Assert.Equal(sum, cached[b].Score, tolerance: 1e-3);
        }
    }

    [Fact]
    public void LeftPaddedBatchEqualsEachPromptAlone()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(11);
        var gen = new TextGenerator(model);
        var prompts = new[]
        {
            InferenceFixtures.Prompt(model, 12, 1, 1),
            InferenceFixtures.Prompt(model, 13, 9, 2),
            InferenceFixtures.Prompt(model, 14, 4, 0),
        };
        Assert.Equal(3, prompts.Select(p => p.Ids.Count).Distinct().Count());
        var options = Forced(8);
        var together = gen.Generate(prompts, options);
        for (int b = 0; b < prompts.Length; b++)
            Assert.Equal(gen.Generate(prompts[b], options).Tokens, together[b].Tokens);
    }

    [Fact]
    public void SamplingIsReproducibleForASeedAndDiffersAcrossSeeds()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(15);
        var gen = new TextGenerator(model);
        var prompt = InferenceFixtures.Prompt(model, 16, 3, 1);
        var options = new GenerationOptions(MaxNewTokens: 16, MinNewTokens: 16, DoSample: true, Temperature: 2.0, TopK: 100, TopP: 0.95, Seed: 7);
        var a = gen.Generate(prompt, options).Tokens;
        var b = gen.Generate(prompt, options).Tokens;
        var c = gen.Generate(prompt, options with { Seed = 8 }).Tokens;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void StreamYieldsTheSameTokensAsGenerate()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(17);
        var gen = new TextGenerator(model);
        var prompt = InferenceFixtures.Prompt(model, 18, 3, 1);
        var options = Forced(6);
        var streamed = gen.StreamAsync(prompt, options).ToBlockingEnumerable().ToList();
        Assert.Equal(gen.Generate(prompt, options).Tokens, streamed.Select(t => t.Id).ToArray());
        Assert.Equal(Enumerable.Range(0, 6), streamed.Select(t => t.Index));
        Assert.Equal(StopReason.MaxTokens, streamed[^1].Stop);
    }

    [Fact]
    public void SoiStopsTextButNotBeforeMinNewTokens()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(19);
        using (no_grad()) model.TextHead.HeadNewBiasParameter[0].fill_(1000.0);   // soi's logit dominates
        var gen = new TextGenerator(model);
        var prompt = InferenceFixtures.Prompt(model, 20, 3, 1);
        var r = gen.Generate(prompt, new GenerationOptions(MaxNewTokens: 5));
        Assert.Equal(StopReason.StartOfImage, r.Stop);
        Assert.Equal(new long[] { model.Tokens.Soi }, r.Tokens);
        var late = gen.Generate(prompt, new GenerationOptions(MaxNewTokens: 5, MinNewTokens: 3));
        Assert.Equal(4, late.Tokens.Length);
        Assert.Equal(model.Tokens.Soi, late.Tokens[^1]);
        Assert.DoesNotContain(model.Tokens.Image, late.Tokens);
    }

    [Fact]
    public void APromptLongerThanTheContextIsRefused()
    {
        using var scope = NewDisposeScope();
        using var model = InferenceFixtures.Model(21);
        var prompt = InferenceFixtures.Prompt(model, 22, 2, 1);
        int limit = prompt.Ids.Count - 1;
        var gen = new TextGenerator(model, maxContext: limit);
        var e = Assert.Throws<PromptTooLongException>(() => gen.Generate(prompt, Forced(2)));
        Assert.Contains($"context of {limit}", e.Message);
        // One more position fits, and generation stops at the context instead of max_new_tokens.
        var fits = new TextGenerator(model, maxContext: prompt.Ids.Count + 3).Generate(prompt, Forced(10));
        Assert.Equal(3, fits.Tokens.Length);
    }

    [Fact]
    public void RepetitionPenaltyAndTopPFollowHfSemantics()
    {
        using var scope = NewDisposeScope();
        var scores = tensor(new float[] { 2f, -1f, 0.5f, 1f }).unsqueeze(0);
        var p = LogitsProcessing.RepetitionPenalty(scores, [[0, 1, 1]], 2.0);
        Assert.Equal(new float[] { 1f, -2f, 0.5f, 1f }, p.data<float>().ToArray());
        // probabilities of [ln 0.5, ln 0.3, ln 0.15, ln 0.05]: top_p 0.7 keeps the first two.
        var probs = tensor(new float[] { 0.5f, 0.3f, 0.15f, 0.05f }).log().unsqueeze(0);
        var kept = LogitsProcessing.TopP(probs, 0.7).isfinite().data<bool>().ToArray();
        Assert.Equal(new[] { true, true, false, false }, kept);
        var top1 = LogitsProcessing.TopK(probs, 1).isfinite().data<bool>().ToArray();
        Assert.Equal(new[] { true, false, false, false }, top1);
    }
}
