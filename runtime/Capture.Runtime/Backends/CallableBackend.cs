using System.Diagnostics;
using Capture.Runtime.Compile;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;

/// <summary>
/// `capture.compile(fn, backend=my_backend)` with a callable, as torch.compile takes one: each captured
/// graph is handed to <c>my_backend(gm, example_inputs)</c> as a real torch.fx.GraphModule (placeholders,
/// call_function / call_method nodes naming torch's own callables, get_attr for constants, output),
/// and what it returns runs the graph. The graph's ops are torch ops, so autograd flows through them
/// as it would in eager code: no forward/backward split here.
/// </summary>
public sealed class CallableBackend(PyObject compiler, TorchRuntime torch) : IGraphBackend
{
    private readonly PythonCalls _calls = new(torch);
    private int _graphs;

    public string Name { get; } = "callable " + NameOf(compiler);

    /// <summary>The user's backend function (a borrowed view of the handle this backend owns).</summary>
    public PyObject Compiler => compiler;

    public ICompiledGraph Compile(Graph graph, bool gradEnabled, IReadOnlyDictionary<string, TensorData>? frozen = null)
    {
        var watch = Stopwatch.StartNew();
        using var helpers = Py.Import("capture._fx");
        using var module = ToGraphModule(graph, helpers, $"CapturedGraph{++_graphs}");
        using var examples = ExampleInputs(graph, helpers);
        var exported = watch.Elapsed;
        var compiled = compiler.Call(module, examples);
        if (!IsCallable(compiled))
        {
            var type = compiled.TypeName;
            compiled.Dispose();
            throw new InvalidOperationException($"the backend {Name} returned {type}, not a callable: a backend returns what runs the graph (gm.forward, for one)");
        }
        var trace = new CompileTrace
        {
            Backend = Name, Captured = graph,
            Parts = [new CompiledPart { Role = "graph", Graph = graph, NodeByNode = $"the graph runs through what {Name} returned for its torch.fx.GraphModule" }],
            Phases = [new CompilePhase("fx export", exported, $"{graph.Nodes.Count} nodes"), new CompilePhase("backend", watch.Elapsed - exported, Name)],
        };
        return new CallableCompiledGraph(trace, compiled);
    }

    /// <summary>The graph as a torch.fx.GraphModule: each node one FX node calling what the eager backend would call.</summary>
    public PyObject ToGraphModule(Graph graph, PyObject helpers, string className)
    {
        using var fx = Py.Import("torch.fx");
        using var graphType = fx.GetAttr("Graph");
        using var fxGraph = graphType.Call();
        var env = new Dictionary<string, PyObject>();
        var constants = new List<KeyValuePair<string, PyObject>>();
        try
        {
            foreach (var node in graph.Nodes)
            {
                using var name = Py.Str(node.Name);
                switch (node)
                {
                    case Placeholder:
                        env[node.Name] = fxGraph.CallMethod("placeholder", name);
                        break;
                    case CallOp { IsMethod: false } c:
                        env[node.Name] = Add(fxGraph, "call_function", _calls.Callable(c.Op.Name).NewReference(), c.Args, c.Kwargs, env);
                        break;
                    case CallOp c:
                        env[node.Name] = Add(fxGraph, "call_method", Py.Str(c.Op.MethodName!), c.Args, c.Kwargs, env);
                        break;
                    case Constant k:
                        var attribute = "_const_" + node.Name;
                        constants.Add(new(attribute, torch.FromData(k.Value, (TensorMeta)k.Meta)));
                        using (var target = Py.Str(attribute)) env[node.Name] = fxGraph.CallMethod("get_attr", target);
                        break;
                    case Output o:
                        using (var value = _calls.Value(o.Value, env)) fxGraph.CallMethod("output", value).Dispose();
                        break;
                    default:
                        throw new NotSupportedException(
                            $"a callable backend takes graphs of torch calls; node '{node.Name}' ({CodePrinter.Expression(node)}) is a {node.GetType().Name} (control flow and module calls of the AST path): use backend='eager', 'roslyn' or 'llvm' for it");
                }
            }
            using var constantDict = Py.Dict(constants);
            using var title = Py.Str(className);
            using var build = helpers.GetAttr("graph_module");
            return build.Call(fxGraph, constantDict, title);
        }
        finally
        {
            foreach (var v in env.Values) v.Dispose();
            foreach (var c in constants) c.Value.Dispose();
        }
    }

    private PyObject Add(PyObject fxGraph, string kind, PyObject target, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Dictionary<string, PyObject> env)
    {
        using (target)
        {
            var values = args.Select(a => _calls.Value(a, env)).ToList();
            var named = kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Name, _calls.Value(k.Value, env))).ToList();
            try
            {
                using var tuple = Py.Tuple(values);
                using var dict = Py.Dict(named);
                return fxGraph.CallMethod(kind, target, tuple, dict);
            }
            finally
            {
                foreach (var v in values) v.Dispose();
                foreach (var k in named) k.Value.Dispose();
            }
        }
    }

    private static PyObject ExampleInputs(Graph graph, PyObject helpers)
    {
        var specs = graph.Placeholders.Select(Spec).ToList();
        try
        {
            using var list = Py.ListOf(specs);
            using var make = helpers.GetAttr("example_inputs");
            return make.Call(list);
        }
        finally { foreach (var s in specs) s.Dispose(); }
    }

    // (sizes, strides, dtype, requires_grad) of a tensor input
    private static PyObject Spec(Placeholder p)
    {
        if (p.Meta is not TensorMeta { Shape.IsConcrete: true } t)
            throw new NotSupportedException($"a callable backend takes graphs of tensor inputs with static sizes; input '{p.Name}' is {p.Meta}");
        using var sizes = Py.IntTuple(t.Shape.Concrete());
        using var strides = t.Strides is { } s ? Py.IntTuple(s) : Py.None;
        using var dtype = Py.Str(t.DType.TorchName());
        using var requiresGrad = Py.Bool(t.RequiresGrad);
        return Py.Tuple([sizes, strides, dtype, requiresGrad]);
    }

    private static bool IsCallable(PyObject value)
    {
        using var builtins = Py.Builtins;
        using var callable = builtins.GetAttr("callable");
        using var answer = callable.Call(value);
        return answer.IsTrue();
    }

    private static string NameOf(PyObject compiler)
    {
        try
        {
            using var name = compiler.GetAttr("__name__");
            return name.AsString();
        }
        catch (PythonException) { return compiler.TypeName; }
    }
}

/// <summary>A graph that runs through what a callable backend returned for it.</summary>
public sealed class CallableCompiledGraph(CompileTrace trace, PyObject compiled) : ICompiledGraph
{
    public CompileTrace Trace => trace;

    public PyObject Run(IReadOnlyList<PyObject> inputs, IReadOnlyList<TensorMeta?>? checkedMetas = null) => compiled.Call([.. inputs]);
}
