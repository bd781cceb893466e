using System.Text;

namespace Deem.Benchmarks;

/// <summary>
/// Caption tokenisation for the COCO caption metrics (reference §6.4: pycocoevalcap with the PTB
/// tokenizer). pycocoevalcap runs Stanford CoreNLP's <c>PTBTokenizer -preserveLines -lowerCase</c>
/// (Java) and then drops the tokens '' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;.
/// This is a C# re-implementation of the part of PTB tokenisation that matters for captions:
/// <list type="bullet">
/// <item>newlines become spaces, the text is lowercased and split on whitespace;</item>
/// <item>leading quotes/brackets/$/# and trailing quotes/brackets/, ; : ! ? % . ... are split off;
/// a trailing '.' stays on a word that already holds a '.' ("u.s.", "a.m.");</item>
/// <item>inside a word, ',' ';' '!' '?' split it, except a ',' between digits ("1,000"); "--" splits;
/// hyphens, '/', '&amp;' and ':' between digits ("10:30") stay inside the word;</item>
/// <item>contractions split as PTB does: "don't" → "do n't", "it's" → "it 's", also 're 've 'll 'd 'm,
/// and "cannot" → "can not";</item>
/// <item>the punctuation tokens above are dropped, with '(' ')' '{' '}' and '"' (PTB's -LRB- -RRB- -LCB- -RCB-
/// and `` ''); '[' ']' become PTB's -lsb- -rsb-, which pycocoevalcap's list does not drop, so they stay
/// as tokens just as they do there.</item>
/// </list>
/// Not reproduced: PTB's special cases for abbreviations list, emoticons, URLs, and American
/// quote normalisation details; on ordinary captions the token sequences agree.
/// </summary>
public static class PtbTokenizer
{
    static readonly HashSet<string> Dropped = new(StringComparer.Ordinal)
    {
        "''", "'", "``", "`", "-lrb-", "-rrb-", "-lcb-", "-rcb-", ".", "?", "!", ",", ":", "-", "--", "...", ";",
        "(", ")", "{", "}", "\"",
    };

    static readonly string[] Clitics = ["n't", "'s", "'re", "'ve", "'ll", "'d", "'m"];
    const string LeadingPunct = "\"'`([{$#";
    const string TrailingPunct = "\"'`)]},;:!?%";

    /// <summary>Tokenises one caption and joins the kept tokens with single spaces.</summary>
    public static string Tokenize(string caption) => string.Join(' ', Tokens(caption));

    /// <summary>The kept tokens of one caption.</summary>
    public static IReadOnlyList<string> Tokens(string caption)
    {
        var tokens = new List<string>();
        string text = caption.Replace('\n', ' ').ToLowerInvariant();
        foreach (string chunk in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            SplitChunk(chunk, tokens);
        return tokens.Where(t => t.Length > 0 && !Dropped.Contains(t)).Select(t => t switch { "[" => "-lsb-", "]" => "-rsb-", _ => t }).ToList();
    }

    static void SplitChunk(string chunk, List<string> tokens)
    {
        int start = 0, end = chunk.Length;
        while (start < end && LeadingPunct.Contains(chunk[start])) tokens.Add(chunk[start++].ToString());
        var trailing = new Stack<string>();
        while (start < end)
        {
            if (end - start >= 3 && chunk.AsSpan(end - 3, 3).SequenceEqual("...")) { trailing.Push("..."); end -= 3; continue; }
            char c = chunk[end - 1];
            if (TrailingPunct.Contains(c)) { trailing.Push(c.ToString()); end--; continue; }
            if (c == '.' && !chunk.AsSpan(start, end - 1 - start).Contains('.')) { trailing.Push("."); end--; continue; }
            break;
        }
        foreach (string piece in SplitInside(chunk[start..end]))
            SplitClitic(piece, tokens);
        while (trailing.Count > 0) tokens.Add(trailing.Pop());
    }

    // ", ; ! ?" and "--" inside a word split it; a comma between digits does not.
    static IEnumerable<string> SplitInside(string word)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < word.Length; i++)
        {
            char c = word[i];
            bool digitComma = c == ',' && i > 0 && i + 1 < word.Length && char.IsDigit(word[i - 1]) && char.IsDigit(word[i + 1]);
            if ((c is ',' or ';' or '!' or '?') && !digitComma)
            {
                if (sb.Length > 0) { yield return sb.ToString(); sb.Clear(); }
                yield return c.ToString();
            }
            else if (c == '-' && i + 1 < word.Length && word[i + 1] == '-')
            {
                if (sb.Length > 0) { yield return sb.ToString(); sb.Clear(); }
                yield return "--";
                i++;
            }
            else sb.Append(c);
        }
        if (sb.Length > 0) yield return sb.ToString();
    }

    static void SplitClitic(string word, List<string> tokens)
    {
        if (word == "cannot") { tokens.Add("can"); tokens.Add("not"); return; }
        foreach (string clitic in Clitics)
        {
            if (word.Length > clitic.Length && word.EndsWith(clitic, StringComparison.Ordinal))
            {
                tokens.Add(word[..^clitic.Length]);
                tokens.Add(clitic);
                return;
            }
        }
        tokens.Add(word);
    }
}
