namespace Capture.Frontend;

/// <summary>
/// How a guard set reads the values its guards check: each distinct source once per check, and a
/// module's attribute chains (L['self'].features._modules['3'].block.weight) not walked at all while
/// nothing on them changed. A read that only looks in dicts (an attribute in an instance's __dict__ or
/// nn.Module's _parameters/_buffers/_modules, a str key of a plain dict, a global) is remembered with
/// its <see cref="ReadWitness"/>; a later check whose owner the witness still holds for (same type,
/// unchanged; same dicts, unchanged: CPython's version tags) takes the remembered object instead of
/// reading again. The guards themselves all run, on the values read, in their order: only the walk
/// is saved (a deep model's 4,000 guards cost milliseconds a call walking chains through Python).
/// Any other read is made as <see cref="SourceValue.Of"/> makes it, kept by the frame.
/// </summary>
internal sealed class ReadPlan
{
    private readonly Guard[] _guards;
    // per guard: the source guard it is (read through the plan), with its source's node; null for the rest
    // (kept typed: a cast to the abstract SourceGuard per guard per check was a third of efficientnet_b0's checking)
    private readonly SourceGuard?[] _sourceGuards;
    private readonly Node?[] _guardNodes;
    private readonly Dictionary<Source, Node> _nodes = [];
    private long _check;
    private bool _checking;

    private sealed class Node(Source source, Node? owner)
    {
        public readonly Source Source = source;
        public readonly Node? Owner = owner;
        public long Check;
        public PyObject? Value;        // this check's value (borrowed: from the frame, or Remembered)
        public PyObject? Remembered;   // a witnessed read's object, held
        public ReadWitness? Witness;
    }

    public ReadPlan(IReadOnlyList<Guard> guards)
    {
        _guards = [.. guards];
        _sourceGuards = [.. guards.Select(g => g as SourceGuard)];
        _guardNodes = [.. _sourceGuards.Select(s => s is null ? null : NodeOf(s.Source))];
    }

    private Node NodeOf(Source source)
    {
        if (_nodes.TryGetValue(source, out var node)) return node;
        return _nodes[source] = new Node(source, source is PartSource part ? NodeOf(part.Base) : null);
    }

    /// <summary>Whether this plan is checking now (a guard's comparison ran Python code that called back into the same entry): the caller checks without it.</summary>
    public bool Busy => _checking;

    /// <summary>The first failing guard's reason, or null when all hold. The frame keeps what is read.</summary>
    public string? Check(FrameState frame, ITorchBridge torch)
    {
        _checking = true;
        _check++;
        try
        {
            var guards = _guards;
            for (var i = 0; i < guards.Length; i++)
            {
                if (_guardNodes[i] is not { } node)
                {
                    if (guards[i].Check(frame, torch) is { } failure) return failure;
                    continue;
                }
                var guard = _sourceGuards[i]!;
                PyObject value;
                try { value = Read(node, frame); }
                catch (Exception e) when (e is PythonException or KeyNotFoundException)
                {
                    (e as PythonException)?.Dispose();
                    return $"{guard.Source} cannot be read: {e.Message}";
                }
                if (guard.CheckRead(value, frame, torch) is { } failed) return failed;
            }
            return null;
        }
        finally { _checking = false; }
    }

    /// <summary>The value <paramref name="source"/> had in the last check, while that check's reads are kept; null when this plan did not read it.</summary>
    public PyObject? ValueOf(Source source) => _nodes.TryGetValue(source, out var node) && node.Check == _check ? node.Value : null;

    private PyObject Read(Node node, FrameState frame)
    {
        if (node.Check == _check) return node.Value!;
        node.Value = null;
        var value = ReadNew(node, frame);
        node.Value = value;
        node.Check = _check;
        return value;
    }

    private PyObject ReadNew(Node node, FrameState frame)
    {
        var source = node.Source;
        if (source.Peek(frame) is { } held) return held;
        if (frame.KeptRead(source) is { } kept) return kept;
        PyObject? owner = node.Owner is { } o ? Read(o, frame) : null;
        if (node.Witness is { } witness && witness.Holds(owner ?? frame.Globals)) return node.Remembered!;
        witness = null;
        var witnessed = source switch
        {
            AttrSource a => owner!.GetAttrWitnessed(a.Attr, ModuleAttributes.Dicts, out witness),
            KeySource k => owner!.GetDictItemWitnessed(k.Key, out witness),
            GlobalSource g => frame.Globals.GetDictItemWitnessed(g.Name, out witness),
            // an item of a tuple that is itself a witnessed read (a module's stride): the witness holds the
            // tuple, so not of tuples the caller passes (it would keep their items alive)
            ItemSource i when node.Owner!.Witness is not null => owner!.GetTupleItemWitnessed(i.Index, out witness),
            _ => null,
        };
        if (witnessed is not null)
        {
            node.Remembered?.Dispose();
            (node.Remembered, node.Witness) = (witnessed, witness);
            return witnessed;
        }
        node.Remembered?.Dispose();
        (node.Remembered, node.Witness) = (null, null);
        var read = owner is not null ? ((PartSource)source).ReadFrom(owner) : source.Resolve(frame);
        if (frame.KeepRead(source, read)) return read;
        read.Dispose();
        throw new InvalidOperationException("a guard set's reads need the frame to keep them (FrameState.BeginReads)");
    }
}

