using Deem.Diffusion;
using Deem.World;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Diffusion;

/// <summary>
/// The frozen VAE's posteriors kept across steps: a held image gives the posterior a fresh encode gives, so the
/// denoising errors of NIP and CSR on the same draws do not change; a changed image (a flip) is a new entry; a full
/// cache still answers every image.
/// </summary>
public class VaePosteriorCacheTests
{
    static StableDiffusion Model()
    {
        var sd = new StableDiffusion(WorldPresets.Tiny, new Generator(1));
        sd.eval();
        return sd;
    }

    static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Fact]
    public void HeldImagesGiveTheLatentsOfAFreshEncodeAndAChangedImageIsEncoded()
    {
        using var scope = NewDisposeScope();
        using var sd = Model();
        var g = new Generator(2);
        var images = rand([3, 3, 64, 64], generator: g);                               // [I, 3, H, W] in [0, 1]
        var eps = randn([3, 4, 8, 8], generator: g);                                    // ε_z
        var fresh = sd.EncodeLatents(images, [eps])[0];                                 // [3, 4, 8, 8]

        var cache = new VaePosteriorCache(VaePosteriorCache.DefaultCapacityBytes);
        sd.PosteriorCache = cache;
        var first = sd.EncodeLatents(images, [eps])[0];
        Assert.Equal((0L, 3L, 3), (cache.Hits, cache.Misses, cache.Count));
        Assert.Equal(3 * 2 * 4 * 8 * 8 * sizeof(float), cache.Bytes);
        Assert.True(MaxDiff(first, fresh) < 1e-5f);                                     // all missed: one encode of the batch

        // Another batch: two held images in another order, and a flipped copy of the third, which is a new image.
        var flipped = images[2].flip(-1).unsqueeze(0);
        var batch = cat([images[1].unsqueeze(0), flipped, images[0].unsqueeze(0)], 0);  // [3, 3, 64, 64]
        var eps2 = randn([3, 4, 8, 8], generator: g);
        var again = sd.EncodeLatents(batch, [eps2])[0];
        Assert.Equal((2L, 4L, 4), (cache.Hits, cache.Misses, cache.Count));
        sd.PosteriorCache = null;
        var expected = sd.EncodeLatents(batch, [eps2])[0];
        Assert.True(MaxDiff(again, expected) < 1e-5f, $"held posteriors differ from a fresh encode by {MaxDiff(again, expected)}");
        // The flip changed the latents: the cache did not answer it with the unflipped image's posterior.
        var unflipped = sd.EncodeLatents(images[2].unsqueeze(0), [eps2[1].unsqueeze(0)])[0];
        Assert.True(MaxDiff(again[1], unflipped[0]) > 1e-3f);
    }

    [Fact]
    public void DenoisingErrorsOnTheSameDrawsDoNotChangeWithTheCache()
    {
        using var scope = NewDisposeScope();
        using var sd = Model();
        var g = new Generator(3);
        var images = rand([2, 3, 64, 64], generator: g);
        var condition = randn([2, 77, WorldPresets.Tiny.UNet.CrossAttentionDim], generator: g);
        Tensor Errors()
        {
            var draws = DenoisingDraws.Sample(sd.LatentShape(images), sd.Scheduler.Config.NumTrainTimesteps, squeeze: true, new Generator(4), images.device);
            return sd.DenoisingErrors(images, [new DenoisingTerm(condition, null, null, draws)], fused: true)[0];   // [2, 4, 8, 8]
        }
        using (no_grad())
        {
            var plain = Errors();
            var cache = new VaePosteriorCache(VaePosteriorCache.DefaultCapacityBytes);
            sd.PosteriorCache = cache;
            var missed = Errors();
            var held = Errors();
            Assert.Equal((2L, 2L), (cache.Hits, cache.Misses));
            // Rounding only: the held posterior is a contiguous copy, the encoder's a strided view of its moments.
            Assert.True(MaxDiff(missed, plain) <= 1e-5f * plain.abs().max().item<float>(), $"cached errors differ by {MaxDiff(missed, plain)}");
            Assert.Equal(0f, MaxDiff(held, missed));                                    // the same batch: the same posterior, bit for bit
        }
    }

    [Fact]
    public void AFullCacheEncodesTheImagesItCannotHold()
    {
        using var scope = NewDisposeScope();
        using var sd = Model();
        var g = new Generator(5);
        var images = rand([3, 3, 64, 64], generator: g);
        var eps = randn([3, 4, 8, 8], generator: g);
        long perImage = 2 * 4 * 8 * 8 * sizeof(float);
        var cache = new VaePosteriorCache(2 * perImage);
        sd.PosteriorCache = cache;
        var first = sd.EncodeLatents(images, [eps])[0];
        Assert.Equal((2, 2 * perImage), (cache.Count, cache.Bytes));
        var second = sd.EncodeLatents(images, [eps])[0];
        Assert.Equal((2L, 4L), (cache.Hits, cache.Misses));                            // the third image is encoded again
        Assert.Equal(0f, MaxDiff(first[..2], second[..2]));
        Assert.True(MaxDiff(first[2], second[2]) < 1e-5f);
        cache.Clear();
        Assert.Equal((0, 0L), (cache.Count, cache.Bytes));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VaePosteriorCache(-1));
        Assert.Throws<ArgumentException>(() => cache.Posterior(images.to_type(ScalarType.Float64), [4, 8, 8], x => (x, x)));
    }
}
