namespace Deem.Text;

/// <summary>
/// The special token ids DEEM's text stream uses (reference §1.1, §1.5): <c>&lt;s&gt;</c>/<c>&lt;/s&gt;</c>
/// from the base vocabulary, a pad id, and the six tokens appended after the base vocabulary:
/// <c>&lt;|startofimage|&gt;</c> (soi, opens an image and triggers image generation),
/// <c>&lt;|sniffer|&gt;</c> (one of the Nq image placeholders overwritten by the visual tokens),
/// and the grounding tokens <c>&lt;ref&gt;</c>, <c>&lt;/ref&gt;</c>, <c>&lt;box&gt;</c>, <c>&lt;/box&gt;</c>.
/// </summary>
/// <param name="Bos">Beginning of a document.</param>
/// <param name="Eos">End of a document.</param>
/// <param name="Pad">Padding id (a real vocabulary id at paper scale, 31999; loss-masked wherever it occurs).</param>
/// <param name="BaseVocabSize">Size of the vocabulary before the new tokens (Vicuna: 32000).</param>
public sealed record SpecialTokens(int Bos, int Eos, int Pad, int BaseVocabSize)
{
    /// <summary>Number of tokens appended after the base vocabulary.</summary>
    public const int NewTokenCount = 6;

    /// <summary>Text form of the image-start token.</summary>
    public const string SoiText = "<|startofimage|>";

    /// <summary>Text form of one image placeholder.</summary>
    public const string ImageText = "<|sniffer|>";

    /// <summary>Text form of the end-of-document token (LLaMA's <c>&lt;/s&gt;</c>).</summary>
    public const string EosText = "</s>";

    /// <summary><c>&lt;|startofimage|&gt;</c> followed by <paramref name="imageTokens"/> placeholders: one image in a prompt's text.</summary>
    public static string ImageBlock(int imageTokens)
    {
        if (imageTokens < 0) throw new ArgumentOutOfRangeException(nameof(imageTokens), imageTokens, "must not be negative");
        return SoiText + string.Concat(Enumerable.Repeat(ImageText, imageTokens));
    }

    /// <summary>Text forms of the tokens appended after the base vocabulary, in id order.</summary>
    public static IReadOnlyList<string> NewTokenTexts { get; } =
        [SoiText, ImageText, "<ref>", "</ref>", "<box>", "</box>"];

    /// <summary>Image start, <c>&lt;|startofimage|&gt;</c>.</summary>
    public int Soi => BaseVocabSize;

    /// <summary>Image placeholder, <c>&lt;|sniffer|&gt;</c>.</summary>
    public int Image => BaseVocabSize + 1;

    public int RefStart => BaseVocabSize + 2;
    public int RefEnd => BaseVocabSize + 3;
    public int BoxStart => BaseVocabSize + 4;
    public int BoxEnd => BaseVocabSize + 5;

    /// <summary>Vocabulary size including the new tokens (the LLM's embedding rows and the text head's outputs).</summary>
    public int VocabSize => BaseVocabSize + NewTokenCount;

    /// <summary>Paper scale: Vicuna ids, bos 1, eos 2, pad 31999, soi 32000, image 32001, ref/box 32002–32005.</summary>
    public static SpecialTokens Paper { get; } = new(Bos: 1, Eos: 2, Pad: 31999, BaseVocabSize: 32000);

    /// <summary>
    /// The tiny procedural world: pad 0, bos 1, eos 2, words from 3, and the six new tokens right after
    /// <paramref name="baseVocabSize"/> words.
    /// </summary>
    public static SpecialTokens ForTinyWorld(int baseVocabSize)
    {
        if (baseVocabSize <= 3)
            throw new ArgumentOutOfRangeException(nameof(baseVocabSize), baseVocabSize, "the tiny world needs more than pad/bos/eos");
        return new SpecialTokens(Bos: 1, Eos: 2, Pad: 0, BaseVocabSize: baseVocabSize);
    }

    /// <summary>The tiny world with 250 base ids (256 with the new tokens), matching <c>LlamaConfig.Tiny</c>.</summary>
    public static SpecialTokens Tiny { get; } = ForTinyWorld(250);
}
