using System.CommandLine;
using System.Globalization;
using Deem.Benchmarks;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem eval vqav2` and `deem eval captions`: the official VQAv2 and COCO caption scorers on the
/// official file formats (questions/annotations/results JSON).
/// </summary>
public static class EvalOfficialCommands
{
    static string F(double x) => x.ToString("F2", CultureInfo.InvariantCulture);

    /// <summary>`deem eval vqav2 --questions Q --annotations A --results R [--out per-question.json]`.</summary>
    public static Command VqaV2()
    {
        var questions = new Option<string>("--questions") { Required = true, Description = "v2_OpenEnded_mscoco_*_questions.json" };
        var annotations = new Option<string>("--annotations") { Required = true, Description = "v2_mscoco_*_annotations.json" };
        var results = new Option<string>("--results") { Required = true, Description = "results JSON: [{question_id, answer}]" };
        var perQuestion = new Option<string?>("--out") { Description = "per-question accuracies JSON to write" };
        var cmd = new Command("vqav2", "VQAv2 accuracy as the official evaluator computes it: overall, per answer type, per question type")
            { questions, annotations, results, perQuestion };
        cmd.SetAction(parse =>
        {
            var r = VqaV2Eval.Evaluate(parse.GetValue(questions)!, parse.GetValue(annotations)!, parse.GetValue(results)!, parse.GetValue(perQuestion));
            AnsiConsole.MarkupLine($"[bold]overall accuracy {F(r.Overall)}[/] over {r.PerQuestion.Count} questions");
            var byAnswer = new Table().AddColumns("answer type", "accuracy");
            foreach (var (k, v) in r.PerAnswerType) byAnswer.AddRow(Markup.Escape(k), F(v));
            AnsiConsole.Write(byAnswer);
            var byQuestion = new Table().AddColumns("question type", "accuracy");
            foreach (var (k, v) in r.PerQuestionType) byQuestion.AddRow(Markup.Escape(k), F(v));
            AnsiConsole.Write(byQuestion);
            if (parse.GetValue(perQuestion) is { } p) AnsiConsole.MarkupLine($"per-question accuracies: {Markup.Escape(p)}");
            return 0;
        });
        return cmd;
    }

    /// <summary>`deem eval captions --annotations A --results R`.</summary>
    public static Command Captions()
    {
        var annotations = new Option<string>("--annotations") { Required = true, Description = "COCO captions JSON (captions_val2014.json)" };
        var results = new Option<string>("--results") { Required = true, Description = "results JSON: [{image_id, caption}]" };
        var cmd = new Command("captions", "COCO caption metrics (BLEU-1..4, ROUGE-L, CIDEr-D) with PTB-style tokenising") { annotations, results };
        cmd.SetAction(parse =>
        {
            var r = CocoCaptionEval.Evaluate(parse.GetValue(annotations)!, parse.GetValue(results)!);
            var t = new Table().AddColumns("metric", "score");
            var s = r.Scores;
            foreach (var (name, v) in new[] { ("BLEU-1", s.Bleu1), ("BLEU-2", s.Bleu2), ("BLEU-3", s.Bleu3), ("BLEU-4", s.Bleu4), ("ROUGE-L", s.RougeL), ("CIDEr-D", s.Cider) })
                t.AddRow(name, v.ToString("F4", CultureInfo.InvariantCulture));
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLine($"{r.Images} images, {r.References} reference captions");
            return 0;
        });
        return cmd;
    }
}
