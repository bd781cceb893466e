using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Deem.IO;

/// <summary>A Python global (<c>module.name</c>) referenced by a pickle; never resolved to code.</summary>
public sealed record PyGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>
/// A pickle virtual machine that builds plain data only (format: CPython <c>Lib/pickletools.py</c>,
/// the opcode reference, and <c>Lib/pickle.py</c>). Supports the opcodes of protocols 2–5 that
/// <c>torch.save</c> emits for state dicts (PROTO, FRAME, MARK, EMPTY_DICT/LIST/TUPLE, TUPLE1-3,
/// BININT/BININT1/BININT2/LONG1, BINFLOAT, BINUNICODE/SHORT_BINUNICODE/BINUNICODE8, GLOBAL,
/// STACK_GLOBAL, REDUCE, BUILD, BINPERSID, SETITEM(S), APPEND(S), NONE/NEWTRUE/NEWFALSE, the memo
/// opcodes, STOP). Objects are mapped to C#: str → string, int → long (or BigInteger), float →
/// double, tuple → object?[], list → List&lt;object?&gt;, dict → <see cref="PyDict"/>. GLOBAL is
/// checked against the caller's allow-list before anything else happens, and REDUCE/BINPERSID/BUILD
/// are delegated to the caller, so no arbitrary code can run. Any other opcode, a global not
/// allowed, or a truncated stream is a <see cref="DeemFormatException"/>.
/// </summary>
public sealed class RestrictedUnpickler
{
    /// <summary>A Python dict (insertion order is kept by <see cref="Dictionary{TKey,TValue}"/> without removals).</summary>
    public sealed class PyDict : Dictionary<object, object?> { }

    readonly byte[] _data;
    readonly string _file;
    readonly Func<PyGlobal, bool> _allowed;
    readonly Func<PyGlobal, object?[], object?> _reduce;
    readonly Func<object?, object?> _persistentLoad;
    readonly Action<object?, object?> _build;
    int _pos;

    readonly List<object?> _stack = new();
    readonly Stack<int> _marks = new();
    readonly Dictionary<long, object?> _memo = new();

    /// <param name="data">The pickle bytes.</param>
    /// <param name="file">Names the pickle in error messages.</param>
    /// <param name="allowed">Which globals may appear; any other is rejected by name.</param>
    /// <param name="reduce">Builds the object for <c>callable(*args)</c> of an allowed global.</param>
    /// <param name="persistentLoad">Resolves a BINPERSID id (torch: a storage reference).</param>
    /// <param name="build">Applies BUILD state to an object (or rejects it).</param>
    public RestrictedUnpickler(byte[] data, string file, Func<PyGlobal, bool> allowed,
        Func<PyGlobal, object?[], object?> reduce, Func<object?, object?> persistentLoad, Action<object?, object?> build)
    {
        _data = data;
        _file = file;
        _allowed = allowed;
        _reduce = reduce;
        _persistentLoad = persistentLoad;
        _build = build;
    }

    /// <summary>Runs the pickle to its STOP opcode and returns the top object.</summary>
    public object? Load()
    {
        while (true)
        {
            int at = _pos;
            byte op = U8();
            switch (op)
            {
                case 0x80: U8(); break;                                   // PROTO n
                case 0x95: Bytes(8); break;                               // FRAME len (framing is informational)
                case (byte)'.': return _stack.Count == 1 ? Pop() : throw Bad(at, "STOP with a malformed stack");
                case (byte)'(': _marks.Push(_stack.Count); break;         // MARK
                case (byte)'}': Push(new PyDict()); break;                // EMPTY_DICT
                case (byte)']': Push(new List<object?>()); break;         // EMPTY_LIST
                case (byte)')': Push(Array.Empty<object?>()); break;      // EMPTY_TUPLE
                case (byte)'t': Push(PopMark(at).ToArray()); break;       // TUPLE
                case 0x85: Push(new[] { Pop() }); break;                  // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; }          // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'l': Push(PopMark(at)); break;                 // LIST
                case (byte)'d': Push(ToDict(PopMark(at), at)); break;     // DICT
                case (byte)'a': { var v = Pop(); AsList(Peek(), at).Add(v); break; }       // APPEND
                case (byte)'e': { var items = PopMark(at); AsList(Peek(), at).AddRange(items); break; } // APPENDS
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItem(Peek(), k, v, at); break; }    // SETITEM
                case (byte)'u':                                            // SETITEMS
                {
                    var items = PopMark(at);
                    if (items.Count % 2 != 0) throw Bad(at, "SETITEMS with an odd number of items");
                    for (int i = 0; i < items.Count; i += 2) SetItem(Peek(), items[i], items[i + 1], at);
                    break;
                }
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))); break; // BININT
                case (byte)'K': Push((long)U8()); break;                  // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2))); break; // BININT2
                case 0x8a: Push(Long(Bytes(U8()))); break;                // LONG1
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break; // BINFLOAT
                case (byte)'X': Push(Utf8(Bytes(Len32(at)), at)); break;  // BINUNICODE
                case 0x8c: Push(Utf8(Bytes(U8()), at)); break;            // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(Bytes(Len64(at)), at)); break;       // BINUNICODE8
                case (byte)'U': Push(Encoding.Latin1.GetString(Bytes(U8()))); break;  // SHORT_BINSTRING
                case (byte)'T': Push(Encoding.Latin1.GetString(Bytes(Len32(at)))); break; // BINSTRING
                case (byte)'C': Push(Bytes(U8()).ToArray()); break;       // SHORT_BINBYTES
                case (byte)'B': Push(Bytes(Len32(at)).ToArray()); break;  // BINBYTES
                case (byte)'N': Push(null); break;                        // NONE
                case 0x88: Push(true); break;                             // NEWTRUE
                case 0x89: Push(false); break;                            // NEWFALSE
                case (byte)'c': Push(Global(Line(at), Line(at), at)); break; // GLOBAL "module\nname\n"
                case 0x93:                                                 // STACK_GLOBAL
                {
                    var name = Pop() as string; var module = Pop() as string;
                    if (module is null || name is null) throw Bad(at, "STACK_GLOBAL needs two strings");
                    Push(Global(module, name, at));
                    break;
                }
                case (byte)'R':                                            // REDUCE
                {
                    var args = Pop() as object?[] ?? throw Bad(at, "REDUCE arguments are not a tuple");
                    var fn = Pop() as PyGlobal ?? throw Bad(at, "REDUCE callable is not a global");
                    Push(_reduce(fn, args));
                    break;
                }
                case (byte)'b': { var state = Pop(); _build(Peek(), state); break; } // BUILD
                case (byte)'Q': Push(_persistentLoad(Pop())); break;      // BINPERSID
                case (byte)'h': Push(MemoGet(U8(), at)); break;           // BINGET
                case (byte)'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)), at)); break; // LONG_BINGET
                case (byte)'q': _memo[U8()] = Peek(); break;              // BINPUT
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4))] = Peek(); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(); break;            // MEMOIZE
                case (byte)'0': Pop(); break;                             // POP
                case (byte)'1': PopMark(at); break;                       // POP_MARK
                case (byte)'2': Push(Peek()); break;                      // DUP
                default:
                    throw Bad(at, $"pickle opcode 0x{op:x2} ('{(op is >= 0x20 and < 0x7f ? (char)op : '?')}') is not allowed in a state dict");
            }
        }
    }

    PyGlobal Global(string module, string name, int at)
    {
        var g = new PyGlobal(module, name);
        if (!_allowed(g)) throw new DeemFormatException(_file, $"pickle global '{g}' at byte {at} is not allowed (only state-dict globals are)", g.ToString());
        return g;
    }

    DeemFormatException Bad(int at, string message) => new(_file, $"{message} (pickle byte {at})");

    void Push(object? o) => _stack.Add(o);

    object? Pop()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _stack.Count <= _marks.Peek()))
            throw Bad(_pos - 1, "pickle stack underflow");
        var o = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return o;
    }

    object? Peek() => _stack.Count > 0 ? _stack[^1] : throw Bad(_pos - 1, "pickle stack is empty");

    List<object?> PopMark(int at)
    {
        if (_marks.Count == 0) throw Bad(at, "no MARK on the pickle stack");
        int m = _marks.Pop();
        var items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    List<object?> AsList(object? o, int at) => o as List<object?> ?? throw Bad(at, "APPEND target is not a list");

    void SetItem(object? target, object? key, object? value, int at)
    {
        if (target is not PyDict d) throw Bad(at, "SETITEM target is not a dict");
        d[key ?? throw Bad(at, "dict key is None")] = value;
    }

    PyDict ToDict(List<object?> items, int at)
    {
        if (items.Count % 2 != 0) throw Bad(at, "DICT with an odd number of items");
        var d = new PyDict();
        for (int i = 0; i < items.Count; i += 2) SetItem(d, items[i], items[i + 1], at);
        return d;
    }

    object? MemoGet(long index, int at) => _memo.TryGetValue(index, out var o) ? o : throw Bad(at, $"memo index {index} was never stored");

    byte U8() => _pos < _data.Length ? _data[_pos++] : throw Bad(_pos, "pickle ends early");

    ReadOnlySpan<byte> Bytes(long n)
    {
        if (n < 0 || n > _data.Length - _pos) throw Bad(_pos, $"pickle ends early (needs {n} more bytes)");
        var s = _data.AsSpan(_pos, (int)n);
        _pos += (int)n;
        return s;
    }

    long Len32(int at) => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));
    long Len64(int at) => (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8)), long.MaxValue);

    string Utf8(ReadOnlySpan<byte> b, int at)
    {
        try { return new UTF8Encoding(false, true).GetString(b); }
        catch (DecoderFallbackException) { throw Bad(at, "string is not valid UTF-8"); }
    }

    string Line(int at)
    {
        int nl = Array.IndexOf(_data, (byte)'\n', _pos);
        if (nl < 0) throw Bad(at, "GLOBAL without a newline");
        string s = Encoding.ASCII.GetString(_data, _pos, nl - _pos);
        _pos = nl + 1;
        return s;
    }

    /// <summary>LONG1 payload: little-endian two's complement; a long when it fits.</summary>
    static object Long(ReadOnlySpan<byte> b)
    {
        var v = new BigInteger(b, isUnsigned: false, isBigEndian: false);
        return v >= long.MinValue && v <= long.MaxValue ? (long)v : v;
    }
}
