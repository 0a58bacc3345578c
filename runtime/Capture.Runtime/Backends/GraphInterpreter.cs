using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;


/// <summary>
/// A node failed while a graph ran: which node, from which user line, and torch's error. Raised into
/// Python as torch's own exception (the type eager code raises) with this as a note.
/// </summary>
public sealed class GraphExecutionException(Node node, PythonException inner)
    : PythonErrorContext($"node '{node.Name}' ({CodePrinter.Expression(node)}){(node.Source is { } s ? $" from {s}" : "")} failed: {inner.Message}", inner)
{
    public Node Node { get; } = node;

    public override string Note => $"while Capture ran node '{Node.Name}' ({CodePrinter.Expression(Node)}) of a compiled graph{(Node.Source is { } s ? $", from {s}" : "")}";

    /// <summary>What a node's failure becomes: torch's error with where it happened, or Capture's own (a NotSupported stays one).</summary>
    public static Exception Of(Node node, Exception e) => e switch
    {
        PythonException python => new GraphExecutionException(node, python),
        NotSupportedException => new NotSupportedException($"node '{node.Name}' ({CodePrinter.Expression(node)}): {e.Message}", e),
        _ => e,
    };
}

/// <summary>
/// Runs a graph node by node through torch, as torch.fx.Interpreter does: what backend="eager"
/// runs, and the reference every other backend is compared with, so it does nothing clever: each
/// call node calls the torch function or Tensor method it names with the arguments it records.
/// With <c>checkMetadata</c> it also checks every produced value against the node's metadata
/// (shape, dtype, and strides of views).
/// </summary>
public sealed class GraphInterpreter(TorchRuntime torch)
{
    private readonly PythonCalls _calls = new(torch);

    /// <summary>Runs <paramref name="graph"/> on Python values (GIL held) and returns its output.</summary>
    /// <param name="compiled">a cond's or while_loop's compiled subgraphs by node, where they were compiled (with their own backward): run instead of the subgraph</param>
    public PyObject Run(Graph graph, IReadOnlyList<PyObject> inputs, PyObject? root = null, bool checkMetadata = false,
        IReadOnlyDictionary<string, Func<IReadOnlyList<PyObject>, PyObject>[]>? compiled = null)
    {
        var placeholders = graph.Placeholders.ToList();
        if (placeholders.Count != inputs.Count)
            throw new ArgumentException($"the graph takes {placeholders.Count} inputs ({string.Join(", ", placeholders.Select(p => p.Name))}), {inputs.Count} given");
        var env = new Dictionary<string, PyObject>();
        try
        {
            for (var i = 0; i < inputs.Count; i++) env[placeholders[i].Name] = inputs[i].NewReference();
            SizeSymbols.Bind(placeholders.Select(p => p.Meta).ToList(), inputs, env);
            var frees = FreesOf(graph);
            for (var index = 0; index < graph.Nodes.Count; index++)
            {
                var node = graph.Nodes[index];
                if (node is Placeholder) continue;
                if (node is Output o) return Value(o.Value, env);
                Interpreter.ThrowIfInterrupted();
                PyObject result;
                try
                {
                    result = Execute(node, env, root, checkMetadata, compiled);
                }
                catch (Exception e) when (e is PythonException or NotSupportedException)
                {
                    throw GraphExecutionException.Of(node, e);
                }
                env[node.Name] = result;
                // a value in a library's own layout (oneDNN's blocked tensors) has no strides to check: its
                // metadata is the logical tensor's, which to_dense gives back (and is checked there)
                if (checkMetadata && !(node is CallOp { Op.Category: OpCategory.Library } library && library.Op != Ops.OneDnnToDense)) MetadataCheck.Check(torch, node, result);
                // values no later node reads go now, as eager frees them (not the graph's outputs)
                foreach (var name in frees[index])
                    if (env.Remove(name, out var dead)) dead.Dispose();
            }
            throw new InvalidOperationException("the graph has no output node");
        }
        finally
        {
            foreach (var value in env.Values) value.Dispose();
        }
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Graph, string[][]> Frees = new();

    /// <summary>Per node (by index), the values whose last reader it is; the output's values are never among them.</summary>
    private static string[][] FreesOf(Graph graph) => Frees.GetValue(graph, g =>
    {
        var last = new Dictionary<string, int>();
        for (var i = 0; i < g.Nodes.Count; i++)
            if (g.Nodes[i] is not Output)
                foreach (var input in g.Nodes[i].Inputs) last[input] = i;
        foreach (var name in g.Output.Inputs) last.Remove(name);
        var frees = new List<string>[g.Nodes.Count];
        for (var i = 0; i < frees.Length; i++) frees[i] = [];
        foreach (var (name, at) in last) frees[at].Add(name);
        return [.. frees.Select(f => f.ToArray())];
    });

    internal PyObject Execute(Node node, Dictionary<string, PyObject> env, PyObject? root, bool checkMetadata,
        IReadOnlyDictionary<string, Func<IReadOnlyList<PyObject>, PyObject>[]>? compiled = null)
    {
        // a subgraph compiled on its own: the branch the predicate picks, the body while the condition holds
        Func<IReadOnlyList<PyObject>, PyObject> Pick(int i, Graph fallback) =>
            compiled is not null && compiled.TryGetValue(node.Name, out var parts) ? parts[i] : inputs => Run(fallback, inputs, root, checkMetadata);
        switch (node)
        {
            case CallOp { IsMethod: false } c:
                return Prepared(c).Call(Callable(c.Op.Name), env);
            case CallOp c:
            {
                using var self = Value(c.Args[0], env);
                using var method = self.GetAttr(c.Op.MethodName!);
                return Prepared(c).Call(method, env);
            }
            case Constant k:
                return torch.FromData(k.Value, (TensorMeta)k.Meta);
            case GetAttr g:
                return Attribute(Root(root, g), g.Target);
            case CallModule m:
            {
                using var module = Attribute(Root(root, m), m.Target);
                return Call(module, m.Args, m.Kwargs, env);
            }
            case Cond c:
            {
                using var predicate = Value(c.Predicate, env);
                var operands = c.Operands.Select(a => Value(a, env)).ToList();
                var pick = predicate.IsTrue();
                try { return Pick(pick ? 0 : 1, pick ? c.TrueGraph : c.FalseGraph)(operands); }
                finally { foreach (var o in operands) o.Dispose(); }
            }
            case WhileLoop w:
            {
                var carried = w.Operands.Select(a => Value(a, env)).ToList();
                var (condition, body) = (Pick(0, w.CondGraph), Pick(1, w.BodyGraph));
                try
                {
                    while (true)
                    {
                        using (var go = condition(carried))
                            if (!go.IsTrue()) return Py.Tuple(carried);
                        using var next = body(carried);
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

    private PyObject Call(PyObject callable, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Dictionary<string, PyObject> env)
    {
        var values = args.Select(a => Value(a, env)).ToList();
        var named = kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Name, Value(k.Value, env))).ToList();
        try
        {
            return callable.Call(values, named);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
            foreach (var k in named) k.Value.Dispose();
        }
    }

    // per call node, its arguments with the constants already Python objects (made once, not per call)
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<CallOp, PreparedCall> _prepared = new();

    private PreparedCall Prepared(CallOp call) => _prepared.GetValue(call, c => new PreparedCall(c, _calls));

    private static PyObject Root(PyObject? root, Node node) =>
        root ?? throw new ArgumentException($"node '{node.Name}' reads self.{(node as GetAttr)?.Target ?? (node as CallModule)?.Target}, but no root module was given");

    private static PyObject Attribute(PyObject root, string path) => PythonCalls.Attribute(root, path);

    private PyObject Value(Arg arg, Dictionary<string, PyObject> env) => _calls.Value(arg, env);

    private PyObject Callable(string name) => _calls.Callable(name);
}

/// <summary>
/// A call node's arguments ready for the call: each constant (an int, a size list, a dtype, None) a
/// Python object made once; each argument that reads a node's value, or holds one (a list of
/// tensors), made from the values of this run. A method call's receiver is the caller's to bind.
/// </summary>
internal sealed class PreparedCall
{
    private readonly Arg[] _args;
    private readonly PyObject?[] _constants;
    private readonly string[] _names;
    private readonly Arg[] _kwargValues;
    private readonly PyObject?[] _kwargConstants;
    private readonly PythonCalls _calls;

    public PreparedCall(CallOp call, PythonCalls calls)
    {
        _calls = calls;
        _args = [.. call.IsMethod ? call.Args.Skip(1) : call.Args];
        _constants = [.. _args.Select(Constant)];
        _names = [.. call.Kwargs.Select(k => k.Name)];
        _kwargValues = [.. call.Kwargs.Select(k => k.Value)];
        _kwargConstants = [.. _kwargValues.Select(Constant)];
    }

    private PyObject? Constant(Arg arg) =>
        arg.References().Any() || arg.ReadsSizes() ? null : _calls.Value(arg, name => throw new InvalidOperationException($"constant argument reads '{name}'"));

    public PyObject Call(PyObject callable, Dictionary<string, PyObject> env)
    {
        var values = new PyObject[_args.Length];
        var named = new KeyValuePair<string, PyObject>[_names.Length];
        try
        {
            for (var i = 0; i < values.Length; i++) values[i] = _constants[i] ?? _calls.Value(_args[i], env);
            for (var i = 0; i < named.Length; i++) named[i] = new(_names[i], _kwargConstants[i] ?? _calls.Value(_kwargValues[i], env));
            return named.Length == 0 ? callable.Call(values) : callable.Call(values, named);
        }
        finally
        {
            for (var i = 0; i < values.Length; i++) if (_constants[i] is null) values[i]?.Dispose();
            for (var i = 0; i < named.Length; i++) if (_kwargConstants[i] is null) named[i].Value?.Dispose();
        }
    }
}
