using Capture.Graph;
using Capture.Python;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;

// Capture.Graph is both a namespace and its central type: inside Capture.* the type needs an alias.
using Graph = Capture.Graph.Graph;

/// <summary>A node failed while a graph ran: which node, from which user line, and torch's error.</summary>
public sealed class GraphExecutionException(Node node, Exception inner)
    : Exception($"node '{node.Name}' ({CodePrinter.Expression(node)}){(node.Source is { } s ? $" from {s}" : "")} failed: {inner.Message}", inner)
{
    public Node Node { get; } = node;
}

/// <summary>
/// backend="eager": runs a graph node by node through torch. It is the reference every other
/// backend is compared with, so it does nothing clever: each call node calls the torch function or
/// Tensor method it names with the arguments it records. With <c>checkMetadata</c> it also checks
/// every produced value against the node's metadata (shape, dtype, and strides of views).
/// </summary>
public sealed class EagerBackend(TorchRuntime torch)
{
    private readonly Dictionary<string, PyObject> _callables = [];

    /// <summary>Runs <paramref name="graph"/> on Python values (GIL held) and returns its output.</summary>
    public PyObject Run(Graph graph, IReadOnlyList<PyObject> inputs, PyObject? root = null, bool checkMetadata = false)
    {
        var placeholders = graph.Placeholders.ToList();
        if (placeholders.Count != inputs.Count)
            throw new ArgumentException($"the graph takes {placeholders.Count} inputs ({string.Join(", ", placeholders.Select(p => p.Name))}), {inputs.Count} given");
        var env = new Dictionary<string, PyObject>();
        try
        {
            for (var i = 0; i < inputs.Count; i++) env[placeholders[i].Name] = inputs[i].NewReference();
            foreach (var node in graph.Nodes.Where(n => n is not Placeholder))
            {
                if (node is Output o) return Value(o.Value, env);
                PyObject result;
                try
                {
                    result = Execute(node, env, root, checkMetadata);
                }
                catch (Exception e) when (e is PythonException or NotSupportedException)
                {
                    throw new GraphExecutionException(node, e);
                }
                env[node.Name] = result;
                if (checkMetadata) MetadataCheck.Check(torch, node, result);
            }
            throw new InvalidOperationException("the graph has no output node");
        }
        finally
        {
            foreach (var value in env.Values) value.Dispose();
        }
    }

    private PyObject Execute(Node node, Dictionary<string, PyObject> env, PyObject? root, bool checkMetadata)
    {
        switch (node)
        {
            case CallOp c:
            {
                var args = c.Args.Select(a => Value(a, env)).ToList();
                var kwargs = c.Kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Name, Value(k.Value, env))).ToList();
                try
                {
                    if (!c.IsMethod) return Callable(c.Op.Name).Call(args, kwargs);
                    using var method = args[0].GetAttr(c.Op.MethodName!);
                    return method.Call(args.Skip(1).ToList(), kwargs);
                }
                finally
                {
                    foreach (var a in args) a.Dispose();
                    foreach (var k in kwargs) k.Value.Dispose();
                }
            }
            case GetAttr g:
                return Attribute(Root(root, g), g.Target);
            case CallModule m:
            {
                using var module = Attribute(Root(root, m), m.Target);
                var args = m.Args.Select(a => Value(a, env)).ToList();
                var kwargs = m.Kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Name, Value(k.Value, env))).ToList();
                try { return module.Call(args, kwargs); }
                finally
                {
                    foreach (var a in args) a.Dispose();
                    foreach (var k in kwargs) k.Value.Dispose();
                }
            }
            case Cond c:
            {
                using var predicate = Value(c.Predicate, env);
                var operands = c.Operands.Select(a => Value(a, env)).ToList();
                try { return Run(predicate.IsTrue() ? c.TrueGraph : c.FalseGraph, operands, root, checkMetadata); }
                finally { foreach (var o in operands) o.Dispose(); }
            }
            case WhileLoop w:
            {
                var carried = w.Operands.Select(a => Value(a, env)).ToList();
                try
                {
                    while (true)
                    {
                        using (var go = Run(w.CondGraph, carried, root, checkMetadata))
                            if (!go.IsTrue()) return Py.Tuple(carried);
                        using var next = Run(w.BodyGraph, carried, root, checkMetadata);
                        foreach (var c in carried) c.Dispose();
                        carried = next.ToItems().ToList();
                    }
                }
                finally { foreach (var c in carried) c.Dispose(); }
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(node), node, "not an executable node");
        }
    }

    private static PyObject Root(PyObject? root, Node node) =>
        root ?? throw new ArgumentException($"node '{node.Name}' reads self.{(node as GetAttr)?.Target ?? (node as CallModule)?.Target}, but no root module was given");

    private static PyObject Attribute(PyObject root, string path)
    {
        var current = root.NewReference();
        foreach (var part in path.Split('.'))
        {
            var next = current.GetAttr(part);
            current.Dispose();
            current = next;
        }
        return current;
    }

    /// <summary>The Python object an op name denotes: the longest importable module prefix, then attributes.</summary>
    private PyObject Callable(string name)
    {
        if (_callables.TryGetValue(name, out var cached)) return cached;
        var parts = name.Split('.');
        for (var split = parts.Length - 1; split >= 1; split--)
        {
            PyObject module;
            try { module = Py.Import(string.Join('.', parts[..split])); }
            catch (PythonException e) when (e.PythonType == "ModuleNotFoundError") { continue; }
            using (module)
            {
                var callable = Attribute(module, string.Join('.', parts[split..]));
                _callables[name] = callable;
                return callable;
            }
        }
        throw new NotSupportedException($"cannot resolve '{name}' to a Python callable");
    }

    private PyObject Value(Arg arg, Dictionary<string, PyObject> env) => arg switch
    {
        RefArg r => env.TryGetValue(r.Name, out var v) ? v.NewReference() : throw new KeyNotFoundException($"no value for '{r.Name}'"),
        IntArg i => Py.Int(i.Value),
        FloatArg f => Py.Float(f.Value),
        BoolArg b => Py.Bool(b.Value),
        StrArg s => Py.Str(s.Value),
        NoneArg => Py.None,
        EllipsisArg => Py.Builtins.GetAttr("Ellipsis"),
        DTypeArg d => torch.DTypeObject(d.Value),
        ListArg l => Sequence(l, env),
        SliceArg s => SliceOf(s, env),
        _ => throw new ArgumentOutOfRangeException(nameof(arg), arg, null),
    };

    private PyObject Sequence(ListArg list, Dictionary<string, PyObject> env)
    {
        var items = list.Items.Select(i => Value(i, env)).ToList();
        try { return list.IsTuple ? Py.Tuple(items) : Py.List(items); }
        finally { foreach (var i in items) i.Dispose(); }
    }

    private PyObject SliceOf(SliceArg s, Dictionary<string, PyObject> env)
    {
        using var builtins = Py.Builtins;
        using var slice = builtins.GetAttr("slice");
        using var start = Value(s.Start, env);
        using var stop = Value(s.Stop, env);
        using var step = Value(s.Step, env);
        return slice.Call(start, stop, step);
    }
}
