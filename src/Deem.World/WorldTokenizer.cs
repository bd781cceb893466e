using Deem.Text;

namespace Deem.World;

/// <summary>
/// The built-in world's tokenizer: a <see cref="WordPieceTextTokenizer"/> whose vocabulary is every word the
/// world generator (<see cref="WorldVocabulary"/>) and the prompt templates can emit, with DEEM's special
/// tokens. Built once; immutable.
/// </summary>
public static class WorldTokenizer
{
    static readonly Lazy<WordPieceTextTokenizer> _default = new(Create);

    /// <summary>The world's tokenizer, built once.</summary>
    public static WordPieceTextTokenizer Default => _default.Value;

    /// <summary>A fresh tokenizer over the world vocabulary plus the prompt templates.</summary>
    public static WordPieceTextTokenizer Create() =>
        WordPieceTextTokenizer.FromTexts(WorldVocabulary.AllWords().Concat(PromptTemplates.AllText()));
}
