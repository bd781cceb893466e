using Deem.Data.Formats;
using Deem.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.World.Pretraining;

/// <summary>
/// The train side of a world (written by <c>WorldWriter.Make</c>) read through the real-format readers,
/// as stage 0 needs it: the BLIP-LAION-style image–caption pairs (CLIP, UNet), those images plus the
/// MMC4 images (VAE), and a text corpus of captions, MMC4 documents and LLaVA questions and answers
/// (LLM). The test splits (<c>robust/</c>) are never read. Images are resized to the training
/// resolution; texts are token ids of the world tokenizer.
/// </summary>
public sealed class Stage0Data : IDisposable
{
    /// <summary>[N, 3, R, R] caption-pair images in [0, 1]: the first N rows of <see cref="VaeImages"/> (a view, not a copy).</summary>
    public required Tensor PairImages { get; init; }

    /// <summary>Caption of each pair image.</summary>
    public required IReadOnlyList<string> Captions { get; init; }

    /// <summary>Caption token ids (no bos/eos) of each pair image.</summary>
    public required IReadOnlyList<IReadOnlyList<int>> CaptionIds { get; init; }

    /// <summary>[M, 3, R, R] every train-side image the VAE learns from (pairs, then MMC4).</summary>
    public required Tensor VaeImages { get; init; }

    /// <summary>Documents as <c>&lt;s&gt; … &lt;/s&gt;</c> token ids (captions, MMC4 documents, VQA turns).</summary>
    public required IReadOnlyList<int[]> Documents { get; init; }

    public required WordPieceTextTokenizer Tokenizer { get; init; }

    /// <summary>Records the readers skipped (unreadable images, bad lines).</summary>
    public required SkipCounter Skips { get; init; }

    /// <summary>Reads <paramref name="worldDir"/> (laion/, mmc4/, llava/); a missing laion folder is an error.</summary>
    public static Stage0Data Load(string worldDir, WordPieceTextTokenizer tokenizer, int resolution)
    {
        var skips = new SkipCounter();
        var pairs = WebDataset.ReadDirectory(Path.Combine(worldDir, "laion"), skips).ToList();
        if (pairs.Count < 2) throw new DeemFormatException(Path.Combine(worldDir, "laion"), $"stage 0 needs at least 2 image–caption pairs, found {pairs.Count}");
        var captions = pairs.Select(p => p.Caption).ToList();
        var captionIds = captions.Select(c => (IReadOnlyList<int>)tokenizer.Encode(c)).ToList();

        var docs = new List<int[]>();
        foreach (var c in captions) docs.Add(tokenizer.Encode(c, addBos: true, addEos: true).ToArray());

        var mmc4Images = new List<Tensor>();
        var mmc4Path = Path.Combine(worldDir, "mmc4", "docs_no_face_shard_0_v3.jsonl");
        if (File.Exists(mmc4Path))
        {
            foreach (var r in Mmc4.Read(mmc4Path, Path.Combine(worldDir, "mmc4", "images"), skips))
            {
                docs.Add(tokenizer.Encode(string.Join(" ", r.Document.TextList), addBos: true, addEos: true).ToArray());
                foreach (var path in r.ImagePaths)
                {
                    using var bmp = ImageFiles.Decode(path);
                    using var t = ImageFiles.ToTensor(bmp);
                    mmc4Images.Add(Resize(t, resolution));
                }
            }
        }
        var llavaPath = Path.Combine(worldDir, "llava", "world_instruct.json");
        if (File.Exists(llavaPath))
        {
            foreach (var item in Llava.Read(llavaPath, Path.Combine(worldDir, "llava"), skips))
            {
                var text = string.Join(" ", item.Conversations.Select(t => t.Value.Replace(Llava.ImageMarker, "").Trim()));
                docs.Add(tokenizer.Encode(text, addBos: true, addEos: true).ToArray());
            }
        }

        // One buffer holds every image once (pairs first): the pair images are a view of its first N rows.
        // Each pair image is decoded straight into its row, so the pairs are never held twice.
        var images = empty(pairs.Count + mmc4Images.Count, 3, resolution, resolution);           // [M, 3, R, R]
        using (no_grad())
        {
            for (int i = 0; i < pairs.Count; i++)
            {
                using var t = Decode(pairs[i].Jpg, pairs[i].Key, resolution);
                using var row = images[i];                                                     // [3, R, R] view
                row.copy_(t);
            }
            for (int k = 0; k < mmc4Images.Count; k++)
            {
                using var row = images[pairs.Count + k];                                       // [3, R, R] view
                row.copy_(mmc4Images[k]);
                mmc4Images[k].Dispose();
            }
        }
        return new Stage0Data
        {
            PairImages = images.narrow(0, 0, pairs.Count), Captions = captions, CaptionIds = captionIds, VaeImages = images,  // [N, …] view, [M, …]
            Documents = docs, Tokenizer = tokenizer, Skips = skips,
        };
    }

    static Tensor Decode(byte[] jpg, string key, int resolution)
    {
        using var bmp = ImageFiles.Decode(jpg, key);
        using var t = ImageFiles.ToTensor(bmp);
        return Resize(t, resolution);
    }

    /// <summary>[3, H, W] → [3, R, R] (bilinear with antialiasing when the size differs).</summary>
    static Tensor Resize(Tensor chw, int resolution)
    {
        if (chw.shape[1] == resolution && chw.shape[2] == resolution) return chw.clone();
        using var scope = NewDisposeScope();
        var x = nn.functional.interpolate(chw.unsqueeze(0), new long[] { resolution, resolution },
            mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);             // [1, 3, R, R]
        return x.squeeze(0).clamp(0.0, 1.0).MoveToOuterDisposeScope();
    }

    /// <summary>All documents concatenated (the LLM's packed token stream).</summary>
    public long[] TokenStream() => Documents.SelectMany(d => d).Select(i => (long)i).ToArray();

    public void Dispose()
    {
        PairImages.Dispose();
        VaeImages.Dispose();
    }
}
