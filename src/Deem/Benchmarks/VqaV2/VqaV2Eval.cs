using System.Text.Json;
using Deem.IO;

namespace Deem.Benchmarks;

/// <summary>One question's official accuracy (percent, unrounded) with what was compared.</summary>
public sealed record VqaV2QuestionScore(long QuestionId, string Question, string Answer, string QuestionType,
    string AnswerType, double Accuracy);

/// <summary>The official evaluator's <c>accuracy</c> dict, unrounded (the official prints them rounded to 2 decimals).</summary>
public sealed record VqaV2Report(double Overall, IReadOnlyDictionary<string, double> PerAnswerType,
    IReadOnlyDictionary<string, double> PerQuestionType, IReadOnlyList<VqaV2QuestionScore> PerQuestion);

/// <summary>
/// VQAv2 scoring on the official files (the VQA API's <c>VQA.loadRes</c> + <c>VQAEval.evaluate</c>):
/// questions <c>v2_OpenEnded_mscoco_*_questions.json</c> = <c>{"questions": [{image_id, question, question_id}]}</c>,
/// annotations <c>v2_mscoco_*_annotations.json</c> = <c>{"annotations": [{question_id, image_id, question_type,
/// answer_type, multiple_choice_answer, answers: [{answer, answer_confidence, answer_id}]}]}</c>, results
/// <c>[{question_id, answer}]</c>. As in <c>loadRes</c>, the results must cover exactly the annotated
/// questions; a question id answered twice is an error here (the official keeps the last one silently).
/// </summary>
public static class VqaV2Eval
{
    public static VqaV2Report Evaluate(string questionsPath, string annotationsPath, string resultsPath, string? perQuestionPath = null)
    {
        var questions = ReadQuestions(questionsPath);
        var results = ReadResults(resultsPath);
        using var annDoc = OfficialJson.Load(annotationsPath, "VQA annotations");
        var scores = new List<VqaV2QuestionScore>();
        var seen = new HashSet<long>();
        int i = 0;
        foreach (var ann in OfficialJson.RootArray(annDoc, annotationsPath, "annotations").EnumerateArray())
        {
            string rec = $"annotations[{i++}]";
            long qid = OfficialJson.Id(ann, "question_id", annotationsPath, rec);
            rec = $"question_id {qid}";
            if (!seen.Add(qid)) throw new DeemFormatException(annotationsPath, "question annotated twice", rec);
            string qType = OfficialJson.Str(ann, "question_type", annotationsPath, rec);
            string aType = OfficialJson.Str(ann, "answer_type", annotationsPath, rec);
            var humans = new List<string>();
            var records = new List<string>();
            foreach (var a in OfficialJson.Field(ann, "answers", JsonValueKind.Array, annotationsPath, rec).EnumerateArray())
            {
                humans.Add(OfficialJson.Str(a, "answer", annotationsPath, rec));
                // The rest of the answer record: the official leave-one-out compares whole records.
                records.Add(string.Join('\u0001', a.EnumerateObject().Where(p => p.Name != "answer").OrderBy(p => p.Name, StringComparer.Ordinal)
                    .Select(p => p.Name + "=" + p.Value.GetRawText())));
            }
            if (humans.Count == 0) throw new DeemFormatException(annotationsPath, "field 'answers' is empty", rec);
            if (!questions.TryGetValue(qid, out string? question))
                throw new DeemFormatException(questionsPath, "annotated question is missing from the questions file", rec);
            if (!results.TryGetValue(qid, out string? answer))
                throw new DeemFormatException(resultsPath, "no answer for an annotated question (results must cover every question)", rec);
            scores.Add(new VqaV2QuestionScore(qid, question, answer, qType, aType, 100 * VqaAccuracy.Score(answer, humans, records)));
        }
        if (scores.Count == 0) throw new DeemFormatException(annotationsPath, "no annotations", "annotations");
        if (results.Count != seen.Count) // every annotated question was answered, so the rest are extra
            throw new DeemFormatException(resultsPath, "answer for a question that is not annotated",
                $"question_id {results.Keys.First(q => !seen.Contains(q))}");

        var report = new VqaV2Report(scores.Average(s => s.Accuracy), Means(scores, s => s.AnswerType), Means(scores, s => s.QuestionType), scores);
        if (perQuestionPath is not null) WritePerQuestion(perQuestionPath, report);
        return report;
    }

    static SortedDictionary<string, double> Means(List<VqaV2QuestionScore> scores, Func<VqaV2QuestionScore, string> key) =>
        new(scores.GroupBy(key).ToDictionary(g => g.Key, g => g.Average(s => s.Accuracy)), StringComparer.Ordinal);

    static Dictionary<long, string> ReadQuestions(string path)
    {
        using var doc = OfficialJson.Load(path, "VQA questions");
        var map = new Dictionary<long, string>();
        int i = 0;
        foreach (var q in OfficialJson.RootArray(doc, path, "questions").EnumerateArray())
        {
            string rec = $"questions[{i++}]";
            long qid = OfficialJson.Id(q, "question_id", path, rec);
            if (!map.TryAdd(qid, OfficialJson.Str(q, "question", path, rec)))
                throw new DeemFormatException(path, "question listed twice", $"question_id {qid}");
        }
        return map;
    }

    static Dictionary<long, string> ReadResults(string path)
    {
        using var doc = OfficialJson.Load(path, "VQA results");
        var map = new Dictionary<long, string>();
        int i = 0;
        foreach (var r in OfficialJson.RootArray(doc, path, null).EnumerateArray())
        {
            string rec = $"[{i++}]";
            long qid = OfficialJson.Id(r, "question_id", path, rec);
            if (!map.TryAdd(qid, OfficialJson.Str(r, "answer", path, rec)))
                throw new DeemFormatException(path, "question answered twice", $"question_id {qid}");
        }
        return map;
    }

    /// <summary>Per-question scores as a JSON array (atomic write).</summary>
    static void WritePerQuestion(string path, VqaV2Report report) => AtomicFile.Write(path, s =>
    {
        using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartArray();
        foreach (var q in report.PerQuestion)
        {
            w.WriteStartObject();
            w.WriteNumber("question_id", q.QuestionId);
            w.WriteString("question", q.Question);
            w.WriteString("answer", q.Answer);
            w.WriteString("question_type", q.QuestionType);
            w.WriteString("answer_type", q.AnswerType);
            w.WriteNumber("accuracy", q.Accuracy);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    });
}
