namespace Deem.Benchmarks;

/// <summary>COCO caption scores (fractions, as pycocoevalcap prints them; CIDEr-D on its ×10 scale).</summary>
public sealed record CaptionScores(double Bleu1, double Bleu2, double Bleu3, double Bleu4, double RougeL, double Cider);

/// <summary>
/// The caption metrics of DEEM's evaluation (reference §6.4): PTB-style tokenisation
/// (<see cref="PtbTokenizer"/>), then BLEU-1…4 (<see cref="Bleu"/>), ROUGE-L (<see cref="RougeL"/>) and
/// CIDEr-D (<see cref="CiderD"/>) over all given references. METEOR is not provided: pycocoevalcap runs
/// the METEOR 1.5 Java jar (WordNet synonyms, paraphrase tables, stemmer), which we cannot reproduce
/// faithfully without it; SPICE is disabled in the authors' setup as well. The authors keep only one
/// randomly chosen reference per image; pass one reference per image to reproduce that.
/// </summary>
public static class CaptionMetrics
{
    /// <summary>
    /// Scores candidates against references, both keyed by image id (the key sets must be equal).
    /// With <paramref name="tokenize"/> = false the captions are taken as already tokenised.
    /// </summary>
    public static CaptionScores Evaluate(IReadOnlyDictionary<string, IReadOnlyList<string>> references,
        IReadOnlyDictionary<string, string> candidates, bool tokenize = true)
    {
        if (references.Count != candidates.Count || references.Keys.Any(k => !candidates.ContainsKey(k)))
            throw new ArgumentException("references and candidates must have the same image ids.");
        Func<string, string> tok = tokenize ? PtbTokenizer.Tokenize : s => s;
        var items = candidates.Keys.Order(StringComparer.Ordinal)
            .Select(k => (tok(candidates[k]), (IReadOnlyList<string>)references[k].Select(tok).ToArray()))
            .ToArray();
        double[] bleu = Bleu.Corpus(items);
        return new CaptionScores(bleu[0], bleu[1], bleu[2], bleu[3], RougeL.Corpus(items), CiderD.Corpus(items).Mean);
    }
}
