"""A code object decoded with CPython's own dis module, for the bytecode path
(C#: bytecode/.../InstructionDecoder.cs)."""

import dis

_GENERATOR = 0x20 | 0x80 | 0x200 | 0x100  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE


def decode(code):
    rows = []
    for ins in dis.get_instructions(code):
        pos = ins.positions
        argval = ins.argval
        if ins.opname == "KW_NAMES":
            argval = code.co_consts[ins.arg]
        rows.append((ins.offset, ins.opname, ins.arg, argval, ins.argrepr,
                     pos.lineno if pos else None, pos.col_offset if pos else None, ins.is_jump_target))
    table = list(dis._parse_exception_table(code))
    flags = code.co_flags
    return (rows, code.co_varnames, code.co_cellvars, code.co_freevars, code.co_argcount, code.co_kwonlyargcount,
            bool(flags & 0x04), bool(flags & 0x08), bool(flags & _GENERATOR), len(table) > 0,
            code.co_name, code.co_filename, code.co_firstlineno)
