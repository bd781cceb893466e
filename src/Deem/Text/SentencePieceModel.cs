using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Deem.Text;

/// <summary>One SentencePiece vocabulary entry (<c>ModelProto.SentencePiece</c>).</summary>
/// <param name="Piece">The piece text (<c>▁</c> for a space).</param>
/// <param name="Score">BPE priority: of two mergeable pairs the one whose merged piece scores higher merges first.</param>
/// <param name="Type">Normal 1, unknown 2, control 3, user-defined 4, unused 5, byte 6.</param>
public sealed record SentencePieceEntry(string Piece, float Score, int Type)
{
    public const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Byte = 6;
}

/// <summary>
/// A SentencePiece BPE model (the <c>tokenizer.model</c> protobuf, <c>sentencepiece_model.proto</c>) written
/// from a Hugging Face <c>tokenizer.json</c> of the LLaMA kind, so both files of the same vocabulary run
/// through the same SentencePiece BPE tokenizer. The json's BPE (byte fallback, normalizer "prepend ▁,
/// replace ' ' with ▁") is SentencePiece BPE with the merge list in priority order: a merged piece's
/// score is minus the rank of the first merge producing it; <c>&lt;0xNN&gt;</c> pieces are byte pieces,
/// the json's special added tokens inside the vocabulary are unknown (the unk token) or control pieces.
/// </summary>
public static class SentencePieceModel
{
    /// <summary>The pieces of an HF <c>tokenizer.json</c> (model type BPE with byte fallback), in id order.</summary>
    public static List<SentencePieceEntry> PiecesFromHfJson(string path)
    {
        JsonNode root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) ?? throw new JsonException("empty document"); }
        catch (JsonException e) { throw new DeemFormatException(path, $"not JSON: {e.Message}", inner: e); }
        var model = root["model"] as JsonObject ?? throw new DeemFormatException(path, "no model object", "model");
        if ((string?)model["type"] != "BPE")
            throw new DeemFormatException(path, $"expected a BPE model (the LLaMA kind), found '{model["type"]}'", "model.type");
        if (model["byte_fallback"]?.GetValue<bool>() != true)
            throw new DeemFormatException(path, "expected byte_fallback: true (the LLaMA kind)", "model.byte_fallback");
        var vocab = model["vocab"] as JsonObject ?? throw new DeemFormatException(path, "no vocabulary", "model.vocab");
        var merges = model["merges"] as JsonArray ?? throw new DeemFormatException(path, "no merge list", "model.merges");

        var pieces = new string?[vocab.Count];
        foreach (var (piece, idNode) in vocab)
        {
            int id = idNode!.GetValue<int>();
            if (id < 0 || id >= pieces.Length || pieces[id] is not null)
                throw new DeemFormatException(path, $"ids must be 0…{pieces.Length - 1}, each once; found {id}", $"model.vocab.{piece}");
            pieces[id] = piece;
        }
        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int r = 0; r < merges.Count; r++)
        {
            string merged = merges[r] switch
            {
                JsonArray pair when pair.Count == 2 => (string)pair[0]! + (string)pair[1]!,
                JsonValue v when ((string)v!).Split(' ') is [var a, var b] => a + b,
                _ => throw new DeemFormatException(path, $"merge {r} is not a pair", "model.merges"),
            };
            rank.TryAdd(merged, r);
        }
        string unk = (string?)model["unk_token"] ?? "<unk>";
        var special = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in root["added_tokens"] as JsonArray ?? [])
            if (t?["special"]?.GetValue<bool>() == true) special.Add((string)t["content"]!);

        var entries = new List<SentencePieceEntry>(pieces.Length);
        for (int id = 0; id < pieces.Length; id++)
        {
            string p = pieces[id]!;
            entries.Add(p == unk ? new(p, 0, SentencePieceEntry.Unknown)
                : special.Contains(p) ? new(p, 0, SentencePieceEntry.Control)
                : IsBytePiece(p) ? new(p, 0, SentencePieceEntry.Byte)
                : rank.TryGetValue(p, out int r) ? new(p, -r, SentencePieceEntry.Normal)
                : new(p, -(merges.Count + id), SentencePieceEntry.Normal));
        }
        return entries;
    }

    static bool IsBytePiece(string p) => p.Length == 6 && p.StartsWith("<0x", StringComparison.Ordinal) && p[5] == '>'
        && Uri.IsHexDigit(p[3]) && Uri.IsHexDigit(p[4]);

    /// <summary>
    /// The serialized ModelProto of a LLaMA-style BPE model: the pieces; trainer_spec (model_type BPE,
    /// vocab_size, byte_fallback, unk/bos/eos ids 0/1/2 from the pieces' types, pad -1); normalizer_spec
    /// "identity" with add_dummy_prefix, escape_whitespaces and no removal of extra whitespace.
    /// </summary>
    public static byte[] Write(IReadOnlyList<SentencePieceEntry> pieces)
    {
        int unk = IndexOf(pieces, e => e.Type == SentencePieceEntry.Unknown);
        int bos = IndexOf(pieces, e => e.Piece == "<s>"), eos = IndexOf(pieces, e => e.Piece == "</s>");
        var proto = new ProtoWriter();
        foreach (var e in pieces)
        {
            var piece = new ProtoWriter();
            piece.String(1, e.Piece);
            piece.Float(2, e.Score);
            piece.Varint(3, e.Type);
            proto.Message(1, piece);
        }
        var trainer = new ProtoWriter();
        trainer.Varint(3, 2);                       // model_type BPE
        trainer.Varint(4, pieces.Count);            // vocab_size
        trainer.Varint(35, 1);                      // byte_fallback
        trainer.Varint(40, unk);                    // unk_id
        trainer.Varint(41, bos);                    // bos_id
        trainer.Varint(42, eos);                    // eos_id
        trainer.Varint(43, -1);                     // pad_id (none)
        if (unk >= 0) trainer.String(45, pieces[unk].Piece);
        if (bos >= 0) trainer.String(46, pieces[bos].Piece);
        if (eos >= 0) trainer.String(47, pieces[eos].Piece);
        proto.Message(2, trainer);
        var normalizer = new ProtoWriter();
        normalizer.String(1, "identity");
        normalizer.Varint(3, 1);                    // add_dummy_prefix
        normalizer.Varint(4, 0);                    // remove_extra_whitespaces
        normalizer.Varint(5, 1);                    // escape_whitespaces
        proto.Message(3, normalizer);
        return proto.ToArray();
    }

    /// <summary>Reads a serialized ModelProto: its pieces, and the segmenter built from them and its flags
    /// (trainer_spec.byte_fallback; normalizer_spec add_dummy_prefix and remove_extra_whitespaces, default true).</summary>
    public static (List<SentencePieceEntry> Pieces, SentencePieceBpe Bpe) Read(byte[] proto, string source)
    {
        var pieces = new List<SentencePieceEntry>();
        bool byteFallback = false, dummyPrefix = true, removeExtra = true;
        try
        {
            foreach (var (field, _, bytes) in Fields(proto))
            {
                if (field == 1)
                {
                    string piece = ""; float score = 0; int type = SentencePieceEntry.Normal;
                    foreach (var (f, v, b) in Fields(bytes!))
                    {
                        if (f == 1) piece = Encoding.UTF8.GetString(b!);
                        else if (f == 2) score = BitConverter.ToSingle(BitConverter.GetBytes((uint)v), 0);
                        else if (f == 3) type = (int)v;
                    }
                    pieces.Add(new(piece, score, type));
                }
                else if (field == 2) foreach (var (f, v, _) in Fields(bytes!)) { if (f == 35) byteFallback = v != 0; }
                else if (field == 3)
                    foreach (var (f, v, _) in Fields(bytes!))
                    {
                        if (f == 3) dummyPrefix = v != 0;
                        else if (f == 4) removeExtra = v != 0;
                    }
            }
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidDataException)
        {
            throw new DeemFormatException(source, $"not a SentencePiece model protobuf: {e.Message}", inner: e);
        }
        if (pieces.Count == 0) throw new DeemFormatException(source, "no pieces: not a SentencePiece model");
        return (pieces, new SentencePieceBpe(pieces, byteFallback, dummyPrefix, removeExtra));
    }

    /// <summary>The fields of one message: number, varint / fixed32 value, or length-delimited bytes.</summary>
    static IEnumerable<(int Field, ulong Value, byte[]? Bytes)> Fields(byte[] m)
    {
        int i = 0;
        ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (shift > 63) throw new InvalidDataException("varint too long");
                byte b = m[i++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
        }
        while (i < m.Length)
        {
            ulong tag = Varint();
            int field = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0: yield return (field, Varint(), null); break;
                case 1: i += 8; break;
                case 2:
                    int n = checked((int)Varint());
                    if (n < 0 || i + n > m.Length) throw new InvalidDataException($"field {field} runs past the end");
                    yield return (field, 0, m[i..(i + n)]);
                    i += n;
                    break;
                case 5: yield return (field, BitConverter.ToUInt32(m, i), null); i += 4; break;
                default: throw new InvalidDataException($"wire type {tag & 7} of field {field}");
            }
        }
    }

    static int IndexOf(IReadOnlyList<SentencePieceEntry> pieces, Func<SentencePieceEntry, bool> match)
    {
        for (int i = 0; i < pieces.Count; i++) if (match(pieces[i])) return i;
        return -1;
    }

    /// <summary>Protocol-buffers wire format: varint (0), 32-bit (5) and length-delimited (2) fields.</summary>
    sealed class ProtoWriter
    {
        readonly MemoryStream _b = new();
        public byte[] ToArray() => _b.ToArray();
        void Raw(ulong v)
        {
            while (v >= 0x80) { _b.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _b.WriteByte((byte)v);
        }
        void Tag(int field, int wire) => Raw((ulong)(field << 3 | wire));
        public void Varint(int field, long v) { Tag(field, 0); Raw((ulong)v); }   // negative int32: 10 bytes, as protobuf
        public void Float(int field, float v) { Tag(field, 5); _b.Write(BitConverter.GetBytes(v)); }
        public void Bytes(int field, byte[] v) { Tag(field, 2); Raw((ulong)v.Length); _b.Write(v); }
        public void String(int field, string v) => Bytes(field, Encoding.UTF8.GetBytes(v));
        public void Message(int field, ProtoWriter m) => Bytes(field, m.ToArray());
    }
}
