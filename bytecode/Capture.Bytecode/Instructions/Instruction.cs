namespace Capture.Bytecode;

/// <summary>
/// One decoded instruction. <see cref="Index"/> is its position in the instruction list (caches
/// left out); jumps name their target by index. <see cref="Constant"/> holds LOAD_CONST's object and
/// KW_NAMES's names tuple; <see cref="Name"/> the name of name-taking opcodes; <see cref="Operator"/>
/// the symbol of BINARY_OP and COMPARE_OP ("+", "+=", "<").
/// </summary>
public sealed record Instruction(
    int Index,
    int Offset,
    Opcode Opcode,
    string OpName,
    int? Arg,
    string? Name,
    string? Operator,
    PyObject? Constant,
    int? JumpTarget,
    SourceLocation? Location,
    bool IsJumpTarget)
{
    /// <summary>The Python operator a UNARY_* instruction applies ("-", "+", "~", "not"), null for other opcodes.</summary>
    public string? UnarySymbol => Opcode switch
    {
        Opcode.UNARY_NEGATIVE => "-",
        Opcode.UNARY_POSITIVE => "+",
        Opcode.UNARY_INVERT => "~",
        Opcode.UNARY_NOT => "not",
        _ => null,
    };

    public override string ToString()
    {
        var arg = Arg is { } a ? " " + a : "";
        var detail = (Name ?? Operator) is { } n ? $" ({n})" : "";
        return $"{Offset} {OpName}{arg}{detail}";
    }
}

/// <summary>A decoded code object: its instructions and what the frame needs to know about it.</summary>
public sealed record CodeInfo(
    string Name,
    string FileName,
    int FirstLine,
    IReadOnlyList<Instruction> Instructions,
    IReadOnlyList<string> VarNames,
    IReadOnlyList<string> CellVars,
    IReadOnlyList<string> FreeVars,
    int ArgCount,
    int KwOnlyArgCount,
    bool HasVarArgs,
    bool HasVarKeywords,
    bool IsGenerator,
    bool HasExceptionTable)
{
    public Instruction AtOffset(int offset) => Instructions.First(i => i.Offset == offset);
}
