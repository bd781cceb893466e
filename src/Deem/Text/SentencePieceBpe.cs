using System.Text;

namespace Deem.Text;

/// <summary>
/// SentencePiece's BPE segmentation exactly as <c>bpe_model.cc</c> does it, over a model's pieces and scores:
/// the normalised text (▁ for each space, a leading ▁) is split into code points; repeatedly the adjacent
/// pair whose concatenation is a piece with the highest score is merged, ties going to the leftmost pair;
/// a final symbol that is no piece becomes its UTF-8 bytes (<c>&lt;0xNN&gt;</c>, byte fallback) or unk.
/// (Microsoft.ML.Tokenizers 2.0.1's SentencePiece BPE breaks such ties differently, e.g. "aaaa" →
/// "▁aa" "aa" where SentencePiece gives "▁a" "aa" "a", so the merge loop is done here.)
/// </summary>
public sealed class SentencePieceBpe
{
    readonly Dictionary<string, int> _mergeable;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    readonly float[] _scores;
    readonly int[] _byteIds = new int[256];
    readonly int _unk;
    readonly bool _byteFallback, _addDummyPrefix, _removeExtraWhitespaces;

    /// <summary>Builds the segmenter from the pieces (id order) and the model's flags.</summary>
    /// <param name="pieces">The pieces, in id order.</param>
    /// <param name="byteFallback">Unknown symbols become their UTF-8 byte pieces.</param>
    /// <param name="addDummyPrefix">A ▁ goes before the text.</param>
    /// <param name="removeExtraWhitespaces">Leading, trailing and repeated spaces are dropped first.</param>
    public SentencePieceBpe(IReadOnlyList<SentencePieceEntry> pieces, bool byteFallback, bool addDummyPrefix, bool removeExtraWhitespaces)
    {
        _scores = pieces.Select(p => p.Score).ToArray();
        _mergeable = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < pieces.Count; id++)
        {
            var p = pieces[id];
            if (p.Type is SentencePieceEntry.Normal or SentencePieceEntry.UserDefined or 5) _mergeable.TryAdd(p.Piece, id);
            if (p.Type == SentencePieceEntry.Byte) _byteIds[Convert.ToInt32(p.Piece[3..5], 16)] = id;
            if (p.Type == SentencePieceEntry.Unknown) _unk = id;
        }
        _lookup = _mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
        (_byteFallback, _addDummyPrefix, _removeExtraWhitespaces) = (byteFallback, addDummyPrefix, removeExtraWhitespaces);
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="ids"/>.</summary>
    public void Encode(string text, List<int> ids)
    {
        if (_removeExtraWhitespaces) text = string.Join(' ', text.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (text.Length == 0) return;
        string s = (_addDummyPrefix ? "▁" : "") + text.Replace(' ', '▁');
        // Symbols: [start, length) spans of s, linked as a list; one per code point at first.
        var start = new List<int>(s.Length);
        for (int i = 0; i < s.Length; i += char.IsSurrogatePair(s, i) ? 2 : 1) start.Add(i);
        int n = start.Count;
        var len = new int[n];
        var prev = new int[n];
        var next = new int[n];
        for (int k = 0; k < n; k++)
        {
            len[k] = (k + 1 < n ? start[k + 1] : s.Length) - start[k];
            (prev[k], next[k]) = (k - 1, k + 1 < n ? k + 1 : -1);
        }
        // Agenda: highest score first, then the leftmost pair (the priority is (−score, left)).
        var agenda = new PriorityQueue<(int Left, int Right, int Size), (float, int)>();
        void Push(int left, int right)
        {
            if (left < 0 || right < 0) return;
            int size = len[left] + len[right];
            if (_lookup.TryGetValue(s.AsSpan(start[left], size), out int id)) agenda.Enqueue((left, right, size), (-_scores[id], left));
        }
        for (int k = 0; k + 1 < n; k++) Push(k, k + 1);
        while (agenda.TryDequeue(out var top, out _))
        {
            if (len[top.Left] == 0 || len[top.Right] == 0 || len[top.Left] + len[top.Right] != top.Size || next[top.Left] != top.Right) continue;
            len[top.Left] = top.Size;
            len[top.Right] = 0;
            next[top.Left] = next[top.Right];
            if (next[top.Right] >= 0) prev[next[top.Right]] = top.Left;
            Push(prev[top.Left], top.Left);
            Push(top.Left, next[top.Left]);
        }
        for (int k = 0; k >= 0; k = next[k])
        {
            var piece = s.AsSpan(start[k], len[k]);
            if (_lookup.TryGetValue(piece, out int id)) ids.Add(id);
            else if (_byteFallback) foreach (byte b in Encoding.UTF8.GetBytes(piece.ToString())) ids.Add(_byteIds[b]);
            else ids.Add(_unk);
        }
    }
}
