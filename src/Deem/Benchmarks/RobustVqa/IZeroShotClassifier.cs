namespace Deem.Benchmarks;

/// <summary>
/// An image–text embedding model used for zero-shot classification while building RobustVQA
/// (reference §6.1: CLIP ViT-L/14-336 in the authors' script). Features need not be normalised; the
/// builder L2-normalises both sides. Implementations do their own image loading and preprocessing.
/// </summary>
public interface IZeroShotClassifier
{
    /// <summary>One feature vector per image path, in order; all of the same length as the text features.</summary>
    float[][] EncodeImages(IReadOnlyList<string> imagePaths);

    /// <summary>One feature vector per prompt, in order.</summary>
    float[][] EncodeTexts(IReadOnlyList<string> prompts);
}
