using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Diffusion;

/// <summary>
/// The frozen VAE's posterior N(μ, σ²) of every image it has encoded, kept so that an image seen again (the next
/// epoch, the evaluation's fixed batches) is not encoded again. NIP and CSR draw x₀ = (μ + σ·ε_z)·s with a fresh
/// ε_z every time, so the losses are the same function of the step's draws with the cache as without it; only
/// the VAE's forward pass is skipped (a frozen encoder: in the diffusers trainers this is "caching latents",
/// here the posterior, not one sample of it, is what is kept).
/// <para>
/// Keyed by the image's content (SHA-256 of its fp32 pixels), so a flipped, cropped or otherwise changed image is
/// a new entry and nothing depends on where an image came from. Valid while the VAE's weights do not change: the
/// VAE is frozen in every stage, and <see cref="Training.Trainer"/> keeps one cache for the run's steps and another for
/// its evaluations (so evaluating does not change which batch first encodes a training image). CPU images only
/// (on an accelerator the encode is cheap and hashing would copy every batch back). When
/// <see cref="CapacityBytes"/> is reached, later images are encoded every time, as without a cache.
/// </para>
/// </summary>
public sealed class VaePosteriorCache(long capacityBytes)
{
    /// <summary>The default capacity: 1 GiB holds 32 768 posteriors of 256-px images (μ and σ, each 4 × 32 × 32 fp32: 32 KiB), 8 192 of 512-px ones.</summary>
    public const long DefaultCapacityBytes = 1L << 30;

    readonly Dictionary<UInt128, float[]> entries = [];   // μ then σ of one image, each Cz·h·w

    public long CapacityBytes { get; } = capacityBytes >= 0 ? capacityBytes
        : throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, "must be >= 0");
    /// <summary>Bytes of the posteriors held.</summary>
    public long Bytes { get; private set; }
    /// <summary>Images held.</summary>
    public int Count => entries.Count;
    /// <summary>Images answered from the cache, and images encoded, since it was made.</summary>
    public long Hits { get; private set; }
    public long Misses { get; private set; }

    /// <summary>
    /// (μ, σ), each [I, Cz, h, w] fp32: the held rows, and the encoder called once on the rows not held, which are then
    /// kept. A posterior is the one of the batch that first brought the image (batched convolutions may round another way
    /// than one image alone; at 64 px one image at a time took 3.4 × as long).
    /// </summary>
    /// <param name="images">[I, 3, H, W] fp32 on the CPU.</param>
    /// <param name="latentShape">[Cz, h, w]: one image's posterior mean.</param>
    /// <param name="encode">Images [I', 3, H, W] → (μ, σ) in fp32, each [I', Cz, h, w].</param>
    public (Tensor Mean, Tensor Std) Posterior(Tensor images, long[] latentShape, Func<Tensor, (Tensor Mean, Tensor Std)> encode)
    {
        if (images.device_type != DeviceType.CPU || images.dtype != ScalarType.Float32 || images.dim() != 4)
            throw new ArgumentException($"the posterior cache takes [I, 3, H, W] fp32 CPU images, found {images.dtype} [{string.Join(", ", images.shape)}] on {images.device}", nameof(images));
        int count = (int)images.shape[0];
        using var pixels = images.contiguous();
        var all = pixels.bytes;                                                     // [I·3·H·W] fp32
        long perImage = images.shape[1] * images.shape[2] * images.shape[3] * sizeof(float);
        var keys = new UInt128[count];
        Span<long> dims = [images.shape[1], images.shape[2], images.shape[3]];
        var missing = new List<long>();
        for (int i = 0; i < count; i++)
        {
            keys[i] = Key(dims, all.Slice((int)(i * perImage), (int)perImage));
            if (!entries.ContainsKey(keys[i])) missing.Add(i);
        }
        Hits += count - missing.Count;
        Misses += missing.Count;

        long per = latentShape.Aggregate(1L, (a, b) => a * b);                      // Cz·h·w
        var encoded = new float[missing.Count * 2 * per];                           // μ and σ of the missing rows, [M, 2, Cz, h, w]
        if (missing.Count > 0)
        {
            using var rows = tensor(missing.ToArray(), device: pixels.device);
            using var subset = missing.Count == count ? pixels.alias() : pixels.index_select(0, rows);  // [M, 3, H, W]
            var (mean, std) = encode(subset);                                       // each [M, Cz, h, w]
            using (mean) using (std)
            {
                if (!mean.shape.Skip(1).SequenceEqual(latentShape))
                    throw new ArgumentException($"the encoder gave [{string.Join(", ", mean.shape)}], not [{missing.Count}, {string.Join(", ", latentShape)}]", nameof(latentShape));
                using var both = stack([mean.to_type(ScalarType.Float32), std.to_type(ScalarType.Float32)], 1).contiguous();  // [M, 2, Cz, h, w]
                both.data<float>().CopyTo(encoded, 0);
            }
        }
        var output = new float[count * 2 * per];                                     // [I, 2, Cz, h, w]
        for (int i = 0, m = 0; i < count; i++)
        {
            var dst = output.AsSpan((int)(i * 2 * per), (int)(2 * per));
            if (m < missing.Count && missing[m] == i)
            {
                var src = encoded.AsSpan((int)(m * 2 * per), (int)(2 * per));
                src.CopyTo(dst);
                long bytes = 2 * per * sizeof(float);
                if (!entries.ContainsKey(keys[i]) && Bytes + bytes <= CapacityBytes)
                {
                    entries[keys[i]] = src.ToArray();
                    Bytes += bytes;
                }
                m++;
            }
            else entries[keys[i]].CopyTo(dst);
        }
        using var result = tensor(output, [count, 2, .. latentShape], device: pixels.device);              // [I, 2, Cz, h, w]
        return (result.select(1, 0).contiguous(), result.select(1, 1).contiguous()); // each [I, Cz, h, w]
    }

    /// <summary>Forgets every posterior (the VAE's weights changed).</summary>
    public void Clear()
    {
        entries.Clear();
        Bytes = 0;
    }

    readonly IncrementalHash sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>The first 128 bits of SHA-256 over the image's [C, H, W] and its fp32 pixels.</summary>
    UInt128 Key(ReadOnlySpan<long> dims, ReadOnlySpan<byte> pixels)
    {
        sha.AppendData(MemoryMarshal.AsBytes(dims));
        sha.AppendData(pixels);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        sha.GetHashAndReset(hash);
        return MemoryMarshal.Read<UInt128>(hash);
    }
}
