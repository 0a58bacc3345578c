using System.Collections.Frozen;

namespace Capture.Bytecode;

/// <summary>
/// Decodes a code object with CPython's own dis module (capture/_dis.py): names,
/// arguments, jump targets, positions and the exception table, as <see cref="CodeInfo"/>.
/// </summary>
public static class InstructionDecoder
{
    private static readonly FrozenSet<Opcode> Jumps = FrozenSet.ToFrozenSet<Opcode>([
        Opcode.JUMP_FORWARD, Opcode.JUMP_BACKWARD, Opcode.JUMP_BACKWARD_NO_INTERRUPT, Opcode.FOR_ITER,
        Opcode.POP_JUMP_FORWARD_IF_TRUE, Opcode.POP_JUMP_FORWARD_IF_FALSE, Opcode.POP_JUMP_BACKWARD_IF_TRUE, Opcode.POP_JUMP_BACKWARD_IF_FALSE,
        Opcode.POP_JUMP_FORWARD_IF_NONE, Opcode.POP_JUMP_FORWARD_IF_NOT_NONE, Opcode.POP_JUMP_BACKWARD_IF_NONE, Opcode.POP_JUMP_BACKWARD_IF_NOT_NONE,
        Opcode.JUMP_IF_TRUE_OR_POP, Opcode.JUMP_IF_FALSE_OR_POP, Opcode.SEND,
    ]);

    private static readonly FrozenSet<Opcode> NameArgs = FrozenSet.ToFrozenSet<Opcode>([
        Opcode.LOAD_FAST, Opcode.STORE_FAST, Opcode.DELETE_FAST, Opcode.LOAD_GLOBAL, Opcode.STORE_GLOBAL, Opcode.LOAD_NAME, Opcode.STORE_NAME,
        Opcode.LOAD_ATTR, Opcode.STORE_ATTR, Opcode.DELETE_ATTR, Opcode.LOAD_METHOD, Opcode.LOAD_DEREF, Opcode.STORE_DEREF,
        Opcode.LOAD_CLOSURE, Opcode.MAKE_CELL, Opcode.LOAD_CLASSDEREF, Opcode.IMPORT_NAME, Opcode.IMPORT_FROM,
    ]);


    /// <summary>Decodes <paramref name="code"/> (a code object or a function); GIL held.</summary>
    public static CodeInfo Decode(PyObject code)
    {
        if (code.HasAttr("__code__"))
        {
            using var inner = code.GetAttr("__code__");
            return Decode(inner);
        }
        using var helper = Py.Import("capture._dis");
        using var decode = helper.GetAttr("decode");
        using var result = decode.Call(code);
        var parts = result.ToItems();
        try
        {
            var rows = parts[0].ToItems();
            var offsets = new Dictionary<int, int>();
            var raw = new List<(int Offset, Opcode Op, string Name, int? Arg, PyObject ArgVal, string ArgRepr, int? Line, int? Col, bool Target)>();
            foreach (var row in rows)
            {
                using (row)
                {
                    var f = row.ToItems();
                    var opname = f[1].AsString();
                    raw.Add((
                        (int)f[0].ToInt64(),
                        Enum.TryParse<Opcode>(opname, out var op) ? op : Opcode.Unknown,
                        opname,
                        f[2].IsNone ? null : (int)f[2].ToInt64(),
                        f[3].NewReference(),
                        f[4].AsString(),
                        f[5].IsNone ? null : (int)f[5].ToInt64(),
                        f[6].IsNone ? null : (int)f[6].ToInt64(),
                        f[7].ToBoolean()));
                    foreach (var x in f) x.Dispose();
                }
            }
            for (var i = 0; i < raw.Count; i++) offsets[raw[i].Offset] = i;
            var fileName = parts[11].AsString();
            var instructions = raw.Select((r, i) =>
            {
                var isJump = Jumps.Contains(r.Op);
                var constant = r.Op is Opcode.LOAD_CONST or Opcode.KW_NAMES ? r.ArgVal : null;
                var name = NameArgs.Contains(r.Op) && r.ArgVal.IsStr ? r.ArgVal.AsString() : null;
                var symbol = r.Op is Opcode.BINARY_OP or Opcode.COMPARE_OP ? r.ArgRepr : null;
                int? target = isJump && r.ArgVal.IsInt ? offsets[(int)r.ArgVal.ToInt64()] : null;
                if (constant is null) r.ArgVal.Dispose();
                var location = r.Line is { } line ? new SourceLocation(fileName, line, (r.Col ?? 0) + 1) : null;
                return new Instruction(i, r.Offset, r.Op, r.Name, r.Arg, name, symbol, constant, target, location, r.Target);
            }).ToList();
            return new CodeInfo(
                parts[10].AsString(), fileName, (int)parts[12].ToInt64(), instructions,
                Strings(parts[1]), Strings(parts[2]), Strings(parts[3]),
                (int)parts[4].ToInt64(), (int)parts[5].ToInt64(), parts[6].ToBoolean(), parts[7].ToBoolean(), parts[8].ToBoolean(), parts[9].ToBoolean());
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    private static IReadOnlyList<string> Strings(PyObject tuple) => tuple.ToItems().Select(s => { using (s) return s.AsString(); }).ToArray();
}
