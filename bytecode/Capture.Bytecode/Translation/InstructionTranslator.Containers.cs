namespace Capture.Bytecode;

// Building and unpacking tuples, lists, dicts, slices and strings.
public sealed partial class InstructionTranslator
{
    private StepResult BuildMap(Instruction ins)
    {
        var n = ins.Arg!.Value;
        var pairs = new List<KeyValuePair<string, SymValue>>();
        if (ins.Opcode == Opcode.BUILD_CONST_KEY_MAP)
        {
            if (Pop() is not ConstValue keys) return new StepResult.Break("dict keys are not constants");
            var values = PopN(n);
            var names = keys.Value.ToItems();
            for (var i = 0; i < n; i++)
            {
                using var k = names[i];
                if (!k.IsStr) return new StepResult.Break($"dict with a non-string key{At(ins)}");
                pairs.Add(new(k.AsString(), values[i]));
            }
        }
        else
        {
            var items = PopN(2 * n);
            for (var i = 0; i < n; i++)
            {
                if (items[2 * i] is not ConstValue { Value.IsStr: true } key) return new StepResult.Break($"dict with a non-string key{At(ins)}");
                pairs.Add(new(key.Value.AsString(), items[2 * i + 1]));
            }
        }
        Push(new DictValue(pairs));
        return StepResult.Continue;
    }

    private StepResult BuildSlice(Instruction ins)
    {
        var parts = PopN(ins.Arg!.Value);
        if (!parts.All(p => p is ConstValue)) return new StepResult.Break($"slice with a non-constant bound{At(ins)}");
        using var builtins = Py.Builtins;
        using var slice = builtins.GetAttr("slice");
        Push(new ConstValue(slice.Call(parts.Cast<ConstValue>().Select(p => p.Value).ToArray())));
        return StepResult.Continue;
    }

    private StepResult BuildString(Instruction ins)
    {
        var parts = PopN(ins.Arg!.Value);
        if (!parts.All(p => p is ConstValue { Value.IsStr: true })) return new StepResult.Break($"string built from non-constants{At(ins)}");
        Push(Const(Py.Str(string.Concat(parts.Cast<ConstValue>().Select(p => p.Value.AsString())))));
        return StepResult.Continue;
    }

    private StepResult FormatValue(Instruction ins)
    {
        var flags = ins.Arg!.Value;
        var spec = (flags & 0x04) != 0 ? Pop() : null;
        var value = Pop();
        if (value is not ConstValue c || spec is not (null or ConstValue)) return new StepResult.Break($"f-string of a {Describe(value)}{At(ins)}");
        using var builtins = Py.Builtins;
        using var convert = builtins.GetAttr((flags & 0x03) switch { 1 => "str", 2 => "repr", 3 => "ascii", _ => "format" });
        using var converted = (flags & 0x03) == 0 ? c.Value.NewReference() : convert.Call(c.Value);
        using var format = builtins.GetAttr("format");
        using var empty = Py.Str("");
        Push(new ConstValue(format.Call(converted, ((ConstValue?)spec)?.Value ?? empty)));
        return StepResult.Continue;
    }

    private StepResult ListAdd(Instruction ins)
    {
        var item = Pop();
        var at = ins.Arg!.Value;
        if (Peek(at) is not ListValue list)
            return new StepResult.Break($"{ins.OpName} on a {Describe(Peek(at))}{At(ins)}");
        IEnumerable<SymValue>? added = ins.Opcode == Opcode.LIST_APPEND ? [item] : item switch
        {
            TupleValue t => t.Items, ListValue l => l.Items, ConstValue c when c.Value.IsTuple => c.Value.ToItems().Select(i => (SymValue)new ConstValue(i)),
            _ => null,
        };
        if (added is null) return new StepResult.Break($"list.extend with a {Describe(item)}{At(ins)}");
        // a list display or comprehension being built: not a side effect anyone else sees
        _context.SetItems(list, list.Items.Concat(added).ToList(), sideEffect: false);
        return StepResult.Continue;
    }

    private StepResult ListToTuple()
    {
        var list = (ListValue)Pop();
        Push(new TupleValue(list.Items));
        return StepResult.Continue;
    }

    private StepResult DictMerge(Instruction ins)
    {
        var update = Pop();
        var at = ins.Arg!.Value;
        if (Peek(at) is not DictValue target || update is not DictValue extra)
            return new StepResult.Break($"dict merge of a {Describe(update)}{At(ins)}");
        if (ins.Opcode == Opcode.DICT_MERGE && extra.Items.Any(e => target.Items.Any(t => t.Key == e.Key)))
            return new StepResult.Break($"duplicate keyword argument{At(ins)}");
        var merged = target.Items.Where(t => extra.Items.All(e => e.Key != t.Key)).Concat(extra.Items).ToList();
        _stack[^at] = new DictValue(merged);
        return StepResult.Continue;
    }

    /// <summary>MAP_ADD: a dict comprehension's `key: value` into the dict it builds.</summary>
    private StepResult MapAdd(Instruction ins)
    {
        var value = Pop();
        var key = Pop();
        if (Peek(ins.Arg!.Value) is not DictValue { Source: null } dict || key is not ConstValue { Value.IsStr: true } k)
            return new StepResult.Break($"dict comprehension with a non-string key{At(ins)}");
        var name = k.Value.AsString();
        var entries = dict.Items.Where(p => p.Key != name).ToList();
        var at = dict.Items.ToList().FindIndex(p => p.Key == name);
        if (at >= 0) entries.Insert(at, new(name, value)); // a repeated key keeps its first position, as dicts do
        else entries.Add(new(name, value));
        _context.SetDictItems(dict, entries);
        return StepResult.Continue;
    }

    /// <summary>UNPACK_EX: `a, *rest, b = items` (low byte: names before the star, high byte: after it).</summary>
    private StepResult UnpackEx(Instruction ins)
    {
        var before = ins.Arg!.Value & 0xFF;
        var after = ins.Arg!.Value >> 8;
        var value = Pop();
        var items = value is TensorValue ? null : IterableItems(value);
        if (items is null || items.Count < before + after) return new StepResult.Break($"unpacking a {Describe(value)} with a starred name{At(ins)}");
        var middle = new ListValue(items.Skip(before).Take(items.Count - before - after).ToList());
        var all = items.Take(before).Append(middle).Concat(items.Skip(items.Count - after)).ToList();
        for (var i = all.Count - 1; i >= 0; i--) Push(all[i]);
        return StepResult.Continue;
    }

    private StepResult Unpack(Instruction ins)
    {
        var n = ins.Arg!.Value;
        var value = Pop();
        // a tensor's rows only when there are n of them (no getitem nodes for a failing unpack)
        var items = value is TensorValue t && (t.Meta.Rank == 0 || t.Meta.Shape[0] != Dim.Of(n)) ? null : IterableItems(value);
        if (items is null || items.Count != n) return new StepResult.Break($"unpacking a {Describe(value)} into {n} values{At(ins)}");
        for (var i = n - 1; i >= 0; i--) Push(items[i]);
        return StepResult.Continue;
    }
}
