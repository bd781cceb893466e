using System.CommandLine;
using Deem.Text;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>`deem tokenize --model DIR | --tokenizer FILE "text"`: ids, pieces and the round trip.</summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var text = new Argument<string>("text") { Description = "the text to tokenize" };
        var model = new Option<string?>("--model") { Description = "a DEEM model folder or a Hugging Face LLaMA / Vicuna folder" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "a tokenizer.model, tokenizer.json or tokenizer.vocab file" };
        var noBos = new Option<bool>("--no-bos") { Description = "do not put BOS first" };
        var cmd = new Command("tokenize", "Print the ids, pieces and round trip of a text") { text, model, tokenizer, noBos };
        cmd.SetAction(parse =>
        {
            var r = Tokenization.Run(parse.GetValue(model), parse.GetValue(tokenizer), parse.GetValue(text)!, !parse.GetValue(noBos));
            AnsiConsole.MarkupLine($"[grey]{r.Kind} tokenizer, {r.VocabSize} ids ({Markup.Escape(r.Source)})[/]");
            Console.WriteLine($"ids ({r.Ids.Count}): [{string.Join(", ", r.Ids)}]");
            Console.WriteLine($"pieces: {string.Join(" ", r.Pieces.Select(p => "'" + p.Replace("\n", "\\n").Replace("\t", "\\t") + "'"))}");
            Console.WriteLine($"decoded: {r.Decoded}");
            Console.WriteLine($"round trip: {(r.RoundTrips ? "exact" : "differs (whitespace beside special tokens is stripped; a leading space is dropped)")}");
            return 0;
        });
        return cmd;
    }
}
