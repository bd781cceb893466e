using Deem.Benchmarks;
using Deem.Config;
using Deem.Inference;
using Deem.IO;
using Deem.Model;
using Deem.Text;
using Deem.World.Pretraining;
using Deem.Vision;
using static TorchSharp.torch;

namespace Deem.World.Benchmarks;

/// <summary>
/// The world's stage-0 CLIP (ConvNeXt image tower + text tower, trained contrastively on
/// in-distribution pairs) as RobustVQA's hard-negative miner, standing in for the authors' CLIP
/// ViT-L/14-336 (reference §6.1). Features are returned unnormalised; the builder normalises both.
/// </summary>
public sealed class ClipZeroShotClassifier : IZeroShotClassifier, IDisposable
{
    readonly ClipModel clip;
    readonly ClipTextConfig textConfig;
    readonly WordPieceTextTokenizer tokenizer;
    readonly int resolution;

    public ClipZeroShotClassifier(ClipModel clip, ClipTextConfig textConfig, WordPieceTextTokenizer tokenizer, int resolution)
    {
        this.clip = clip;
        this.textConfig = textConfig;
        this.tokenizer = tokenizer;
        this.resolution = resolution;
        clip.eval();
    }

    /// <summary>Loads the CLIP that stage 0 wrote under <paramref name="stage0Dir"/> (open_clip layout).</summary>
    public static ClipZeroShotClassifier FromStage0(string stage0Dir, WordPieceTextTokenizer tokenizer)
    {
        var deem = DeemConfig.Load(Path.Combine(stage0Dir, Stage0.ConfigFile));
        var text = Stage0.ClipTextFor(deem, tokenizer);
        var clip = new ClipModel(deem.Vision, text);
        StateDicts.LoadStrict(clip, ComponentFolders.Under(stage0Dir).OpenClipWeights);
        return new ClipZeroShotClassifier(clip, text, tokenizer, deem.EncoderResolution);
    }

    public float[][] EncodeImages(IReadOnlyList<string> imagePaths)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var batch = stack(imagePaths.Select(p => ImageInputs.ToEncoderView(ImageInputs.Read(p), resolution)).ToArray(), 0);
        return Rows(clip.EncodeImage(batch));                                                  // [N, E]
    }

    public float[][] EncodeTexts(IReadOnlyList<string> prompts)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = ClipTextEncoder.Tokenize(prompts.Select(p => (IReadOnlyList<int>)tokenizer.Encode(p.ToLowerInvariant())), textConfig);
        return Rows(clip.EncodeText(ids));                                                     // [N, E]
    }

    static float[][] Rows(Tensor t)
    {
        var data = t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        int n = (int)t.shape[0], e = (int)t.shape[1];
        return Enumerable.Range(0, n).Select(i => data.AsSpan(i * e, e).ToArray()).ToArray();
    }

    public void Dispose() => clip.Dispose();
}
