using System.Collections.Frozen;

namespace Capture.Bytecode;

/// <summary>What running one instruction for real did: go on at an instruction, or return a value.</summary>
public abstract record RealStep
{
    public sealed record Continue(int Next) : RealStep;
    public sealed record Return(PyObject Value) : RealStep;
}

/// <summary>
/// Runs single instructions for real on a frame's values, through the C API: the instruction at a
/// graph break, and whole frames past the recompile limit. It covers every opcode a frame may hold
/// for Capture to run it (<see cref="CanRun"/>); frames with others are captured whole or run eagerly
/// from the start, before anything happened. Exceptions propagate as Python exceptions (frames with
/// handlers are never run here).
/// </summary>
public static class RealExecutor
{
    private static readonly FrozenSet<Opcode> Supported = FrozenSet.ToFrozenSet<Opcode>([
        Opcode.NOP, Opcode.RESUME, Opcode.CACHE, Opcode.PRECALL, Opcode.EXTENDED_ARG, Opcode.MAKE_CELL, Opcode.COPY_FREE_VARS,
        Opcode.POP_TOP, Opcode.PUSH_NULL, Opcode.COPY, Opcode.SWAP, Opcode.LOAD_FAST, Opcode.STORE_FAST, Opcode.DELETE_FAST,
        Opcode.LOAD_DEREF, Opcode.STORE_DEREF, Opcode.LOAD_CLOSURE, Opcode.LOAD_CONST, Opcode.LOAD_GLOBAL, Opcode.LOAD_ATTR,
        Opcode.LOAD_METHOD, Opcode.STORE_ATTR, Opcode.KW_NAMES, Opcode.CALL, Opcode.CALL_FUNCTION_EX, Opcode.BINARY_OP,
        Opcode.COMPARE_OP, Opcode.IS_OP, Opcode.CONTAINS_OP, Opcode.UNARY_NEGATIVE, Opcode.UNARY_POSITIVE, Opcode.UNARY_NOT,
        Opcode.UNARY_INVERT, Opcode.BINARY_SUBSCR, Opcode.STORE_SUBSCR, Opcode.BUILD_TUPLE, Opcode.BUILD_LIST, Opcode.BUILD_MAP,
        Opcode.BUILD_CONST_KEY_MAP, Opcode.BUILD_SLICE, Opcode.BUILD_STRING, Opcode.LIST_APPEND, Opcode.LIST_EXTEND,
        Opcode.LIST_TO_TUPLE, Opcode.DICT_MERGE, Opcode.DICT_UPDATE, Opcode.UNPACK_SEQUENCE, Opcode.FORMAT_VALUE,
        Opcode.GET_ITER, Opcode.FOR_ITER, Opcode.JUMP_FORWARD, Opcode.JUMP_BACKWARD, Opcode.JUMP_BACKWARD_NO_INTERRUPT,
        Opcode.POP_JUMP_FORWARD_IF_TRUE, Opcode.POP_JUMP_FORWARD_IF_FALSE, Opcode.POP_JUMP_BACKWARD_IF_TRUE, Opcode.POP_JUMP_BACKWARD_IF_FALSE,
        Opcode.POP_JUMP_FORWARD_IF_NONE, Opcode.POP_JUMP_FORWARD_IF_NOT_NONE, Opcode.POP_JUMP_BACKWARD_IF_NONE, Opcode.POP_JUMP_BACKWARD_IF_NOT_NONE,
        Opcode.JUMP_IF_TRUE_OR_POP, Opcode.JUMP_IF_FALSE_OR_POP, Opcode.RETURN_VALUE, Opcode.LOAD_ASSERTION_ERROR, Opcode.RAISE_VARARGS,
        Opcode.IMPORT_NAME, Opcode.IMPORT_FROM, Opcode.MAKE_FUNCTION,
    ]);

    /// <summary>Why Capture must run this code eagerly as a whole, or null when it can capture it.</summary>
    public static string? EagerReason(CodeInfo code)
    {
        if (code.IsGenerator) return "generator or coroutine frames run eagerly";
        if (FrameIntrospection.WalksFrames(code) is { } walks) return walks;
        return code.Instructions.FirstOrDefault(i => i.Opcode is Opcode.STORE_DEREF or Opcode.DELETE_DEREF && code.FreeVars.Contains(i.Name!)) is { } store
            ? $"it assigns to nonlocal '{store.Name}' at line {store.Location?.Line} (a cell of the enclosing function); the frame runs eagerly"
            : null;
    }

    /// <summary>
    /// Why a frame can only be captured as a whole, or null when its instructions can also run here
    /// one by one (at graph breaks): exception handlers are not emulated, closures made in the frame
    /// need real cells, and some opcodes have no real implementation here. Such a frame runs as one
    /// graph when the capture reaches its return, and eagerly when it breaks.
    /// </summary>
    public static string? WholeFrameReason(CodeInfo code)
    {
        if (code.HasExceptionTable) return "it has try/with blocks";
        if (code.Instructions.Any(i => i.Opcode is Opcode.LOAD_CLOSURE or Opcode.MAKE_CELL)) return "it makes closures";
        return code.Instructions.FirstOrDefault(i => !Supported.Contains(i.Opcode)) is { } ins
            ? $"opcode {ins.OpName} at line {ins.Location?.Line} cannot run here one instruction at a time"
            : null;
    }

    public static bool CanRun(CodeInfo code) => EagerReason(code) is null && WholeFrameReason(code) is null;

    /// <summary>
    /// Makes a real call; the frame runner passes one that runs Python functions through Capture
    /// (so a function called from a broken region is captured in its own right).
    /// </summary>
    public delegate PyObject CallHook(PyObject callable, IReadOnlyList<PyObject> args, IReadOnlyList<KeyValuePair<string, PyObject>> kwargs);

    /// <summary>What MAKE_FUNCTION makes, without closure cells: a function of <paramref name="code"/> in <paramref name="globals"/>.</summary>
    public static PyObject MakeFunction(PyObject code, PyObject globals, PyObject defaults, PyObject? kwDefaults)
    {
        using var types = Py.Import("types");
        using var functionType = types.GetAttr("FunctionType");
        using var none = Py.None;
        var function = functionType.Call(code, globals, none, defaults);
        using (var qualname = code.GetAttr("co_qualname")) function.SetAttr("__qualname__", qualname);
        if (kwDefaults is not null) function.SetAttr("__kwdefaults__", kwDefaults);
        return function;
    }

    /// <summary>Runs instruction <paramref name="index"/> on <paramref name="frame"/> (GIL held).</summary>
    public static RealStep Execute(CodeInfo code, FrameState frame, int index, CallHook? call = null)
    {
        var ins = code.Instructions[index];
        var stack = frame.Stack;
        PyObject? PopSlot()
        {
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }
        PyObject Pop() => PopSlot() ?? throw new InvalidOperationException($"{ins}: NULL where a value was expected");
        void Push(PyObject? v) => stack.Add(v);
        RealStep Next() => new RealStep.Continue(index + 1);
        RealStep JumpTo() => new RealStep.Continue(ins.JumpTarget!.Value);
        using var builtins = Py.Builtins;

        switch (ins.Opcode)
        {
            case Opcode.NOP or Opcode.RESUME or Opcode.CACHE or Opcode.PRECALL or Opcode.EXTENDED_ARG or Opcode.MAKE_CELL or Opcode.COPY_FREE_VARS or Opcode.KW_NAMES:
                return Next();
            case Opcode.POP_TOP: PopSlot()?.Dispose(); return Next();
            case Opcode.PUSH_NULL: Push(null); return Next();
            case Opcode.COPY: Push(stack[^ins.Arg!.Value]?.NewReference()); return Next();
            case Opcode.SWAP: (stack[^1], stack[^ins.Arg!.Value]) = (stack[^ins.Arg!.Value], stack[^1]); return Next();
            case Opcode.LOAD_FAST or Opcode.LOAD_DEREF or Opcode.LOAD_CLOSURE:
                if (!frame.HasLocal(ins.Name!)) throw Raise(builtins, "UnboundLocalError", $"local variable '{ins.Name}' referenced before assignment");
                Push(frame.Local(ins.Name!));
                return Next();
            case Opcode.STORE_FAST or Opcode.STORE_DEREF: frame.SetLocal(ins.Name!, Pop()); return Next();
            case Opcode.DELETE_FAST: frame.SetLocal(ins.Name!, Py.None); return Next();
            case Opcode.LOAD_CONST: Push(ins.Constant!.NewReference()); return Next();
            case Opcode.LOAD_GLOBAL:
                if ((ins.Arg!.Value & 1) == 1) Push(null);
                try { Push(frame.Global(ins.Name!)); }
                catch (KeyNotFoundException) { throw Raise(builtins, "NameError", $"name '{ins.Name}' is not defined"); }
                return Next();
            case Opcode.LOAD_ATTR: { using var owner = Pop(); Push(owner.GetAttr(ins.Name!)); return Next(); }
            case Opcode.LOAD_METHOD: { using var owner = Pop(); Push(null); Push(owner.GetAttr(ins.Name!)); return Next(); }
            case Opcode.STORE_ATTR: { using var owner = Pop(); using var value = Pop(); owner.SetAttr(ins.Name!, value); return Next(); }
            case Opcode.CALL: return Call(code, frame, ins, index, call);
            case Opcode.MAKE_FUNCTION:
            {
                var flags = ins.Arg!.Value;
                if ((flags & 0x08) != 0) throw new InvalidOperationException($"{ins}: closures are made only in frames captured whole");
                using var codeObject = Pop();
                using var annotations = (flags & 0x04) != 0 ? Pop() : null;
                using var kwDefaults = (flags & 0x02) != 0 ? Pop() : null;
                using var defaults = (flags & 0x01) != 0 ? Pop() : Py.None;
                var function = MakeFunction(codeObject, frame.Globals, defaults, kwDefaults);
                if (annotations is not null)
                {
                    // 3.11 passes annotations as a flat tuple (name, value, name, value...)
                    var flat = annotations.ToItems();
                    using var dict = Py.Dict(Enumerable.Range(0, flat.Count / 2).Select(i => new KeyValuePair<string, PyObject>(flat[2 * i].AsString(), flat[2 * i + 1])));
                    foreach (var item in flat) item.Dispose();
                    function.SetAttr("__annotations__", dict);
                }
                Push(function);
                return Next();
            }
            case Opcode.CALL_FUNCTION_EX:
            {
                using var kwargs = (ins.Arg!.Value & 1) == 1 ? Pop() : Py.Dict([]);
                using var args = Pop();
                using var callable = Pop();
                if (stack.Count > 0 && stack[^1] is null) PopSlot();
                var positional = args.ToItems();
                var named = kwargs.ToDictItems().Select(p => { using (p.Key) return new KeyValuePair<string, PyObject>(p.Key.AsString(), p.Value); }).ToList();
                Push(callable.Call(positional, named));
                foreach (var p in positional) p.Dispose();
                foreach (var p in named) p.Value.Dispose();
                return Next();
            }
            case Opcode.BINARY_OP:
            {
                using var right = Pop();
                using var left = Pop();
                var symbol = ins.Operator!;
                var binary = PythonOperators.Binary[symbol.TrimEnd('=')];
                Push(PythonOperators.Apply(symbol.EndsWith('=') ? binary.InPlaceFunction : binary.Function, left, right));
                return Next();
            }
            case Opcode.COMPARE_OP:
            {
                using var right = Pop();
                using var left = Pop();
                Push(PythonOperators.Apply(PythonOperators.Comparisons[ins.Operator!].Function, left, right));
                return Next();
            }
            case Opcode.IS_OP:
            {
                using var right = Pop();
                using var left = Pop();
                Push(Py.Bool(left.Is(right) != (ins.Arg == 1)));
                return Next();
            }
            case Opcode.CONTAINS_OP:
            {
                using var container = Pop();
                using var item = Pop();
                Push(PythonOperators.Apply(ins.Arg == 1 ? "not_contains" : "contains", container, item));
                return Next();
            }
            case Opcode.UNARY_NEGATIVE or Opcode.UNARY_POSITIVE or Opcode.UNARY_NOT or Opcode.UNARY_INVERT:
            {
                using var value = Pop();
                if (ins.Opcode == Opcode.UNARY_NOT) { Push(Py.Bool(!value.IsTrue())); return Next(); }
                Push(PythonOperators.Apply(PythonOperators.UnaryFunction(ins.UnarySymbol!), value));
                return Next();
            }
            case Opcode.BINARY_SUBSCR: { using var key = Pop(); using var container = Pop(); Push(container.GetItem(key)); return Next(); }
            case Opcode.STORE_SUBSCR:
            {
                using var key = Pop();
                using var container = Pop();
                using var value = Pop();
                container.SetItem(key, value);
                return Next();
            }
            case Opcode.BUILD_TUPLE or Opcode.BUILD_LIST:
            {
                var items = PopMany(stack, ins.Arg!.Value);
                Push(ins.Opcode == Opcode.BUILD_TUPLE ? Py.Tuple(items) : Py.List(items));
                foreach (var i in items) i.Dispose();
                return Next();
            }
            case Opcode.BUILD_MAP:
            {
                var items = PopMany(stack, 2 * ins.Arg!.Value);
                var dict = Py.Dict([]);
                for (var i = 0; i < items.Count; i += 2) dict.SetItem(items[i], items[i + 1]);
                foreach (var i in items) i.Dispose();
                Push(dict);
                return Next();
            }
            case Opcode.BUILD_CONST_KEY_MAP:
            {
                using var keys = Pop();
                var values = PopMany(stack, ins.Arg!.Value);
                var dict = Py.Dict([]);
                var keyItems = keys.ToItems();
                for (var i = 0; i < values.Count; i++) dict.SetItem(keyItems[i], values[i]);
                foreach (var x in values.Concat(keyItems)) x.Dispose();
                Push(dict);
                return Next();
            }
            case Opcode.BUILD_SLICE:
            {
                var parts = PopMany(stack, ins.Arg!.Value);
                using var slice = builtins.GetAttr("slice");
                Push(slice.Call(parts.ToArray()));
                foreach (var p in parts) p.Dispose();
                return Next();
            }
            case Opcode.BUILD_STRING:
            {
                var parts = PopMany(stack, ins.Arg!.Value);
                Push(Py.Str(string.Concat(parts.Select(p => p.AsString()))));
                foreach (var p in parts) p.Dispose();
                return Next();
            }
            case Opcode.LIST_APPEND: { using var item = Pop(); stack[^ins.Arg!.Value]!.CallMethod("append", item).Dispose(); return Next(); }
            case Opcode.LIST_EXTEND: { using var items = Pop(); stack[^ins.Arg!.Value]!.CallMethod("extend", items).Dispose(); return Next(); }
            case Opcode.LIST_TO_TUPLE: { using var list = Pop(); using var tuple = builtins.GetAttr("tuple"); Push(tuple.Call(list)); return Next(); }
            case Opcode.DICT_MERGE or Opcode.DICT_UPDATE: { using var update = Pop(); stack[^ins.Arg!.Value]!.CallMethod("update", update).Dispose(); return Next(); }
            case Opcode.UNPACK_SEQUENCE:
            {
                using var value = Pop();
                using var tuple = builtins.GetAttr("tuple");
                using var items = tuple.Call(value);
                if (items.Length != ins.Arg!.Value)
                    throw Raise(builtins, "ValueError", $"expected {ins.Arg} values to unpack, got {items.Length}");
                foreach (var item in items.ToItems().Reverse()) Push(item);
                return Next();
            }
            case Opcode.FORMAT_VALUE:
            {
                var flags = ins.Arg!.Value;
                using var spec = (flags & 0x04) != 0 ? Pop() : Py.Str("");
                using var value = Pop();
                using var convert = builtins.GetAttr((flags & 0x03) switch { 1 => "str", 2 => "repr", 3 => "ascii", _ => "format" });
                using var converted = (flags & 0x03) == 0 ? value.NewReference() : convert.Call(value);
                using var format = builtins.GetAttr("format");
                Push(format.Call(converted, spec));
                return Next();
            }
            case Opcode.GET_ITER: { using var value = Pop(); using var iter = builtins.GetAttr("iter"); Push(iter.Call(value)); return Next(); }
            case Opcode.FOR_ITER:
            {
                var iterator = stack[^1]!;
                using var next = builtins.GetAttr("next");
                using var sentinel = Py.Eval("object()");
                var item = next.Call(iterator, sentinel);
                if (item.Is(sentinel))
                {
                    item.Dispose();
                    Pop().Dispose();
                    return JumpTo();
                }
                Push(item);
                return Next();
            }
            case Opcode.JUMP_FORWARD or Opcode.JUMP_BACKWARD or Opcode.JUMP_BACKWARD_NO_INTERRUPT: return JumpTo();
            case Opcode.POP_JUMP_FORWARD_IF_TRUE or Opcode.POP_JUMP_BACKWARD_IF_TRUE: { using var v = Pop(); return v.IsTrue() ? JumpTo() : Next(); }
            case Opcode.POP_JUMP_FORWARD_IF_FALSE or Opcode.POP_JUMP_BACKWARD_IF_FALSE: { using var v = Pop(); return v.IsTrue() ? Next() : JumpTo(); }
            case Opcode.POP_JUMP_FORWARD_IF_NONE or Opcode.POP_JUMP_BACKWARD_IF_NONE: { using var v = Pop(); return v.IsNone ? JumpTo() : Next(); }
            case Opcode.POP_JUMP_FORWARD_IF_NOT_NONE or Opcode.POP_JUMP_BACKWARD_IF_NOT_NONE: { using var v = Pop(); return v.IsNone ? Next() : JumpTo(); }
            case Opcode.JUMP_IF_TRUE_OR_POP: if (stack[^1]!.IsTrue()) return JumpTo(); Pop().Dispose(); return Next();
            case Opcode.JUMP_IF_FALSE_OR_POP: if (!stack[^1]!.IsTrue()) return JumpTo(); Pop().Dispose(); return Next();
            case Opcode.RETURN_VALUE: return new RealStep.Return(Pop());
            case Opcode.LOAD_ASSERTION_ERROR: Push(builtins.GetAttr("AssertionError")); return Next();
            case Opcode.RAISE_VARARGS:
            {
                using var helper = Py.Import("capture._frames");
                using var fn = helper.GetAttr("raise_");
                using var error = ins.Arg == 0 ? throw new NotSupportedException("bare raise outside an except block") : Pop();
                fn.Call(error).Dispose();
                throw new InvalidOperationException("raise did not raise");
            }
            case Opcode.IMPORT_NAME:
            {
                using var fromList = Pop();
                using var level = Pop();
                using var import = builtins.GetAttr("__import__");
                using var name = Py.Str(ins.Name!);
                Push(import.Call([name, frame.Globals, Py.None, fromList, level], []));
                return Next();
            }
            case Opcode.IMPORT_FROM: Push(stack[^1]!.GetAttr(ins.Name!)); return Next();
            default:
                throw new NotSupportedException($"Capture cannot run opcode {ins.OpName} for real");
        }
    }

    private static RealStep Call(CodeInfo code, FrameState frame, Instruction ins, int index, CallHook? hook)
    {
        var stack = frame.Stack;
        var args = PopMany(stack, ins.Arg!.Value);
        var second = stack[^1] ?? throw new InvalidOperationException($"{ins}: NULL callable");
        stack.RemoveAt(stack.Count - 1);
        var first = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        PyObject callable;
        if (first is null) callable = second;
        else
        {
            callable = first;
            args.Insert(0, second);
        }
        // KW_NAMES comes just before PRECALL, CALL: its names are the last arguments.
        var kwNames = code.Instructions.Take(index).Reverse().Take(3).FirstOrDefault(i => i.Opcode == Opcode.KW_NAMES)?.Constant;
        var names = kwNames is null ? [] : kwNames.ToItems().Select(n => { using (n) return n.AsString(); }).ToList();
        var positional = args.Take(args.Count - names.Count).ToList();
        var keywords = names.Select((n, i) => new KeyValuePair<string, PyObject>(n, args[positional.Count + i])).ToList();
        try
        {
            stack.Add(FrameIntrospection.Call(callable, positional, keywords, frame)
                ?? (hook is null ? callable.Call(positional, keywords) : hook(callable, positional, keywords)));
        }
        finally
        {
            callable.Dispose();
            foreach (var a in args) a.Dispose();
        }
        return new RealStep.Continue(index + 1);
    }

    private static List<PyObject> PopMany(List<PyObject?> stack, int n)
    {
        var items = stack.GetRange(stack.Count - n, n);
        stack.RemoveRange(stack.Count - n, n);
        return items.Select(i => i ?? throw new InvalidOperationException("NULL among call arguments")).ToList();
    }

    private static PythonException Raise(PyObject builtins, string type, string message)
    {
        using var exceptionType = builtins.GetAttr(type);
        using var text = Py.Str(message);
        using var error = exceptionType.Call(text);
        using var helper = Py.Import("capture._frames");
        using var fn = helper.GetAttr("raise_");
        try
        {
            fn.Call(error).Dispose();
        }
        catch (PythonException e)
        {
            return e;
        }
        throw new InvalidOperationException("raise did not raise");
    }
}
