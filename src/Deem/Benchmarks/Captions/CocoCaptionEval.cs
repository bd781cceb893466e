using System.Globalization;

namespace Deem.Benchmarks;

/// <summary>Caption scores of a COCO results file, with how many images and references were scored.</summary>
public sealed record CocoCaptionReport(CaptionScores Scores, int Images, int References);

/// <summary>
/// COCO caption scoring on the official files (coco-caption's <c>COCO.loadRes</c> + <c>COCOEvalCap</c>):
/// annotations <c>captions_val2014.json</c> = <c>{"annotations": [{image_id, id, caption}], ...}</c>, results
/// <c>[{image_id, caption}]</c>. As there, the scored images are the results' images, each scored against
/// all its reference captions; every result image must be annotated and have exactly one result caption
/// (coco-caption asserts one hypothesis per image). Captions go through <see cref="PtbTokenizer"/>, then
/// BLEU-1..4, ROUGE-L and CIDEr-D (<see cref="CaptionMetrics"/>).
/// </summary>
public static class CocoCaptionEval
{
    public static CocoCaptionReport Evaluate(string annotationsPath, string resultsPath)
    {
        var refs = new Dictionary<long, List<string>>();
        using (var doc = OfficialJson.Load(annotationsPath, "COCO caption annotations"))
        {
            int i = 0;
            foreach (var a in OfficialJson.RootArray(doc, annotationsPath, "annotations").EnumerateArray())
            {
                string rec = $"annotations[{i++}]";
                long img = OfficialJson.Id(a, "image_id", annotationsPath, rec);
                string caption = OfficialJson.Str(a, "caption", annotationsPath, rec);
                if (!refs.TryGetValue(img, out var list)) refs[img] = list = [];
                list.Add(caption);
            }
        }
        var candidates = new Dictionary<string, string>(StringComparer.Ordinal);
        var references = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        using (var doc = OfficialJson.Load(resultsPath, "caption results"))
        {
            int i = 0;
            foreach (var r in OfficialJson.RootArray(doc, resultsPath, null).EnumerateArray())
            {
                string rec = $"[{i++}]";
                long img = OfficialJson.Id(r, "image_id", resultsPath, rec);
                string caption = OfficialJson.Str(r, "caption", resultsPath, rec);
                string key = img.ToString(CultureInfo.InvariantCulture);
                if (!refs.TryGetValue(img, out var list))
                    throw new DeemFormatException(resultsPath, "image_id has no reference caption in the annotations", rec);
                if (!candidates.TryAdd(key, caption))
                    throw new DeemFormatException(resultsPath, $"image_id {img} has more than one result caption", rec);
                references[key] = list;
            }
        }
        if (candidates.Count == 0) throw new DeemFormatException(resultsPath, "no results to score");
        var scores = CaptionMetrics.Evaluate(references, candidates);
        return new CocoCaptionReport(scores, candidates.Count, references.Values.Sum(r => r.Count));
    }
}
