namespace Capture.Bytecode;

// Building and unpacking tuples, lists, dicts, slices and strings.
public sealed partial class InstructionTranslator
{
    private StepResult BuildMap(Instruction ins)
    {
        var n = ins.Arg!.Value;
        var pairs = new List<KeyValuePair<DictKey, SymValue>>();
        if (ins.Opcode == Opcode.BUILD_CONST_KEY_MAP)
        {
            if (Pop() is not ConstValue keys) return new StepResult.Break($"dict keys are not constants{At(ins)}");
            var values = PopN(n);
            var names = keys.Value.ToItems();
            try
            {
                for (var i = 0; i < n; i++)
                {
                    if (DictKey.Of(names[i]) is not { } key) return new StepResult.Break($"dict with an unhashable key{At(ins)}");
                    DictValue.Put(pairs, key, values[i]);
                }
            }
            finally { foreach (var k in names) k.Dispose(); }
        }
        else
        {
            var items = PopN(2 * n);
            for (var i = 0; i < n; i++)
            {
                if (KeyOf(items[2 * i]) is not { } key) return new StepResult.Break($"dict with a key of {Describe(items[2 * i])} (keys must be constants known at capture time){At(ins)}");
                DictValue.Put(pairs, key, items[2 * i + 1]);
            }
        }
        Push(new DictValue(pairs));
        return StepResult.Continue;
    }

    /// <summary>A dict key or set item as a value again.</summary>
    private static ConstValue KeyValue(DictKey key) => new(key.Value.NewReference());

    /// <summary>Keyword arguments (or attributes) as dict items.</summary>
    private static List<KeyValuePair<DictKey, SymValue>> Keyed(IEnumerable<KeyValuePair<string, SymValue>> items) =>
        items.Select(p => new KeyValuePair<DictKey, SymValue>(p.Key, p.Value)).ToList();

    /// <summary>A dict's items as keyword arguments, or null when a key is not a str.</summary>
    private static List<KeyValuePair<string, SymValue>>? Named(DictValue dict) =>
        dict.Items.All(p => p.Key.Name is not null) ? dict.Items.Select(p => new KeyValuePair<string, SymValue>(p.Key.Name!, p.Value)).ToList() : null;

    /// <summary>A dict key or set item: a hashable constant; null for anything else (tensors, objects).</summary>
    private static DictKey? KeyOf(SymValue value) => value is ConstValue c ? DictKey.Of(c.Value) : null;

    /// <summary>The constants of a value as set items (a set, a frozenset, a tuple or list of constants, a dict's keys), or null.</summary>
    private static List<DictKey>? SetItemsOf(SymValue value)
    {
        var items = value switch
        {
            SetValue s => s.Items.Select(k => (DictKey?)k).ToList(),
            DictValue d => d.Items.Select(p => (DictKey?)p.Key).ToList(),
            TupleValue or ListValue => (value is TupleValue t ? t.Items : ((ListValue)value).Items).Select(KeyOf).ToList(),
            ConstValue { Value: var v } when v.IsTuple || v.TypeName is "frozenset" or "range" or "str" =>
                v.Iterate().Select(i => { using (i) return DictKey.Of(i); }).ToList(),
            _ => null,
        };
        if (items is null || items.Any(i => i is null)) return null;
        var distinct = new List<DictKey>();
        foreach (var i in items)
            if (!distinct.Contains(i!)) distinct.Add(i!);
        return distinct;
    }

    /// <summary>BUILD_SET: {a, b, c} of constants.</summary>
    private StepResult BuildSet(Instruction ins)
    {
        var items = PopN(ins.Arg!.Value);
        if (SetItemsOf(new TupleValue(items)) is not { } keys) return new StepResult.Break($"set of values not known at capture time{At(ins)}");
        Push(new SetValue(keys));
        return StepResult.Continue;
    }

    /// <summary>SET_ADD (a set comprehension's item) and SET_UPDATE ({*a, *b}).</summary>
    private StepResult SetAdd(Instruction ins)
    {
        var item = Pop();
        var at = ins.Arg!.Value;
        var added = ins.Opcode == Opcode.SET_ADD ? SetItemsOf(new TupleValue([item])) : SetItemsOf(item);
        if (Peek(at) is not SetValue set || added is null) return new StepResult.Break($"set of values not known at capture time{At(ins)}");
        _context.SetSetItems(set, set.Items.Concat(added.Where(a => !set.Items.Contains(a))).ToList());
        return StepResult.Continue;
    }

    private StepResult BuildSlice(Instruction ins)
    {
        var parts = PopN(ins.Arg!.Value);
        if (!parts.All(p => p is ConstValue)) return new StepResult.Break($"slice with a non-constant bound{At(ins)}");
        if (parts.Any(p => p is SymIntValue))
        {
            // x[:T] with a dynamic T: a slice graph ops take with the size symbolic
            Push(new SliceValue(parts[0], parts[1], parts.Count > 2 ? parts[2] : Const(Py.None)));
            return StepResult.Continue;
        }
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
        if (ins.Opcode == Opcode.DICT_MERGE && extra.Items.Any(e => target.Find(e.Key) is not null))
            return new StepResult.Break($"duplicate keyword argument{At(ins)}");
        _stack[^at] = new DictValue(Merged(target.Items, extra.Items));
        return StepResult.Continue;
    }

    /// <summary>`a | b` and a.update(b): a's keys in their places with b's values, then b's new keys.</summary>
    private static List<KeyValuePair<DictKey, SymValue>> Merged(IReadOnlyList<KeyValuePair<DictKey, SymValue>> a, IReadOnlyList<KeyValuePair<DictKey, SymValue>> b)
    {
        var merged = a.ToList();
        foreach (var (k, v) in b) DictValue.Put(merged, k, v);
        return merged;
    }

    /// <summary>MAP_ADD: a dict comprehension's `key: value` into the dict it builds.</summary>
    private StepResult MapAdd(Instruction ins)
    {
        var value = Pop();
        var key = Pop();
        if (Peek(ins.Arg!.Value) is not DictValue { Source: null } dict || KeyOf(key) is not { } k)
            return new StepResult.Break($"dict comprehension with a key of {Describe(key)} (keys must be constants known at capture time){At(ins)}");
        _context.SetDictItems(dict, dict.With(k, value)); // a repeated key keeps its first position, as dicts do
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
