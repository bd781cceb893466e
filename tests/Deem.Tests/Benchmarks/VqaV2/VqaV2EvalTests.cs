using System.Text.Json;
using Deem.Benchmarks;
using Deem.Tests.IO;

namespace Deem.Tests.Benchmarks;

/// <summary>The VQAv2 scorer on tiny files in the official layouts.</summary>
public class VqaV2EvalTests
{
    const string Questions = """
        {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "data_subtype": "val2014", "license": {},
         "questions": [
           {"image_id": 1, "question": "What color is the car?", "question_id": 10},
           {"image_id": 1, "question": "How many dogs?", "question_id": 11},
           {"image_id": 2, "question": "Is it sunny?", "question_id": 20}]}
        """;

    static string Answers(params string[] a) =>
        "[" + string.Join(",", a.Select((x, i) => $"{{\"answer\": {JsonSerializer.Serialize(x)}, \"answer_confidence\": \"yes\", \"answer_id\": {i + 1}}}")) + "]";

    static string Annotations() => $$"""
        {"info": {}, "license": {}, "data_subtype": "val2014", "annotations": [
          {"question_id": 10, "image_id": 1, "question_type": "what color is the", "answer_type": "other",
           "multiple_choice_answer": "red", "answers": {{Answers([.. Enumerable.Repeat("red", 9), "dark red"])}}},
          {"question_id": 11, "image_id": 1, "question_type": "how many", "answer_type": "number",
           "multiple_choice_answer": "2", "answers": {{Answers([.. Enumerable.Repeat("2", 3), .. Enumerable.Repeat("3", 7)])}}},
          {"question_id": 20, "image_id": 2, "question_type": "is it", "answer_type": "yes/no",
           "multiple_choice_answer": "yes", "answers": {{Answers([.. Enumerable.Repeat("yes", 10)])}}}]}
        """;

    static (string q, string a, string r) Write(TempDir dir, string results, string? annotations = null, string? questions = null)
    {
        string q = dir.File("v2_OpenEnded_mscoco_val2014_questions.json"), a = dir.File("v2_mscoco_val2014_annotations.json"), r = dir.File("results.json");
        File.WriteAllText(q, questions ?? Questions);
        File.WriteAllText(a, annotations ?? Annotations());
        File.WriteAllText(r, results);
        return (q, a, r);
    }

    [Fact]
    public void OverallPerTypeAndPerQuestionByHand()
    {
        using var dir = new TempDir();
        // q10: "Red." → processed "red" (humans differ): 9 matches → 100
        // q11: "two" → "2": 3 of 10 humans → 90
        // q20: "yes." against ten identical "yes": not processed → 0
        var (q, a, r) = Write(dir, """[{"question_id": 10, "answer": "Red."}, {"question_id": 11, "answer": "two"}, {"question_id": 20, "answer": "yes."}]""");
        string per = dir.File("per-question.json");
        var report = VqaV2Eval.Evaluate(q, a, r, per);
        Assert.Equal((100 + 90 + 0) / 3.0, report.Overall, 9);
        Assert.Equal(100, report.PerAnswerType["other"], 9);
        Assert.Equal(90, report.PerAnswerType["number"], 9);
        Assert.Equal(0, report.PerAnswerType["yes/no"], 9);
        Assert.Equal(90, report.PerQuestionType["how many"], 9);
        using var doc = JsonDocument.Parse(File.ReadAllText(per));
        var rows = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(3, rows.Length);
        Assert.Equal(11, rows[1].GetProperty("question_id").GetInt64());
        Assert.Equal("How many dogs?", rows[1].GetProperty("question").GetString());
        Assert.Equal(90, rows[1].GetProperty("accuracy").GetDouble(), 9);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
    }

    [Theory]
    [InlineData("""[{"question_id": 10, "answer": "red"}, {"question_id": 11, "answer": "2"}]""", "results.json", "question_id 20")]
    [InlineData("""[{"question_id": 10, "answer": "red"}, {"question_id": 11, "answer": "2"}, {"question_id": 20, "answer": "yes"}, {"question_id": 99, "answer": "x"}]""", "results.json", "question_id 99")]
    [InlineData("""[{"question_id": 10}]""", "results.json", "field 'answer' is missing")]
    [InlineData("""[{"question_id": "10", "answer": "red"}]""", "results.json", "field 'question_id' should be Number")]
    [InlineData("""{"question_id": 10}""", "results.json", "expected a JSON array")]
    [InlineData("""[{"question_id": 10, "answer": "a"}, {"question_id": 10, "answer": "b"}]""", "results.json", "answered twice")]
    [InlineData("""[{"question_id": 10, "answer": "a"}""", "results.json", "not valid JSON")]
    public void BadResultsAreOneLineErrorsNamingFileAndField(string results, string file, string mention)
    {
        using var dir = new TempDir();
        var (q, a, r) = Write(dir, results);
        var ex = Assert.Throws<DeemFormatException>(() => VqaV2Eval.Evaluate(q, a, r));
        Assert.EndsWith(file, ex.File);
        Assert.Contains(mention, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void BadAnnotationsAndQuestionsNameTheirFileAndField()
    {
        using var dir = new TempDir();
        const string ok = """[{"question_id": 10, "answer": "red"}, {"question_id": 11, "answer": "2"}, {"question_id": 20, "answer": "yes"}]""";
        var (q, a, r) = Write(dir, ok, annotations: Annotations().Replace("\"answer_type\": \"number\",", ""));
        var ex = Assert.Throws<DeemFormatException>(() => VqaV2Eval.Evaluate(q, a, r));
        Assert.Equal(a, ex.File);
        Assert.Contains("field 'answer_type' is missing", ex.Message);
        Assert.Equal("question_id 11", ex.Key);

        (q, a, r) = Write(dir, ok, questions: """{"questions": [{"image_id": 1, "question_id": 10}]}""");
        ex = Assert.Throws<DeemFormatException>(() => VqaV2Eval.Evaluate(q, a, r));
        Assert.Equal(q, ex.File);
        Assert.Contains("field 'question' is missing", ex.Message);

        File.Delete(q);
        ex = Assert.Throws<DeemFormatException>(() => VqaV2Eval.Evaluate(q, a, r));
        Assert.Contains("file not found", ex.Message);
    }
}
