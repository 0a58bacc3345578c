using System.Text.Json;
using System.Text.Json.Nodes;

namespace Capture.Graphs;

/// <summary>
/// Graphs as JSON, for tools and reports. Every node keeps its name, kind, target, arguments,
/// metadata and source location, so <see cref="Read"/> of <see cref="Write"/> is an equal graph.
/// </summary>
public static class JsonFormat
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Write(Graph graph, bool indented = true) => GraphJson(graph).ToJsonString(indented ? Indented : null);

    public static Graph Read(string json) =>
        ReadGraph(JsonNode.Parse(json) as JsonObject ?? throw new FormatException("graph JSON must be an object"));

    private static JsonObject GraphJson(Graph graph) => new() { ["nodes"] = new JsonArray(graph.Nodes.Select(NodeJson).ToArray<JsonNode?>()) };

    private static void Set(JsonObject o, params (string Key, JsonNode? Value)[] fields)
    {
        foreach (var (key, value) in fields) o[key] = value;
    }

    private static JsonObject NodeJson(Node node)
    {
        var o = new JsonObject { ["name"] = node.Name, ["op"] = node.OpCode };
        switch (node)
        {
            case GetAttr g: o["target"] = g.Target; break;
            case Constant k: o["data"] = Convert.ToBase64String(k.Value.Bytes); break;
            case CallOp c:
                o["target"] = c.IsMethod ? c.Op.MethodName : c.Op.Name;
                if (c.IsMethod) o["registry_name"] = c.Op.Name;
                o["args"] = Args(c.Args);
                o["kwargs"] = Kwargs(c.Kwargs);
                break;
            case CallModule m: Set(o, ("target", m.Target), ("args", Args(m.Args)), ("kwargs", Kwargs(m.Kwargs))); break;
            case Cond c:
                Set(o, ("predicate", ArgJson(c.Predicate)), ("true_graph", GraphJson(c.TrueGraph)), ("false_graph", GraphJson(c.FalseGraph)), ("operands", Args(c.Operands)));
                break;
            case WhileLoop w: Set(o, ("cond_graph", GraphJson(w.CondGraph)), ("body_graph", GraphJson(w.BodyGraph)), ("operands", Args(w.Operands))); break;
            case Output out_: o["value"] = ArgJson(out_.Value); break;
        }
        o["meta"] = MetaJson(node.Meta);
        if (node.Source is { } s) o["source"] = new JsonObject { ["file"] = s.File, ["line"] = s.Line, ["column"] = s.Column };
        return o;
    }

    private static JsonArray Args(IEnumerable<Arg> args) => new(args.Select(ArgJson).ToArray<JsonNode?>());

    private static JsonObject Kwargs(IEnumerable<Kwarg> kwargs)
    {
        var o = new JsonObject();
        foreach (var k in kwargs) o[k.Name] = ArgJson(k.Value);
        return o;
    }

    private static JsonObject ArgJson(Arg arg) => arg switch
    {
        RefArg r => new() { ["ref"] = r.Name },
        IntArg i => new() { ["int"] = i.Value },
        SizeArg z => new() { ["size"] = z.Value.ToString() },
        FloatArg f => new() { ["float"] = double.IsFinite(f.Value) ? JsonValue.Create(f.Value) : JsonValue.Create(f.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)) },
        BoolArg b => new() { ["bool"] = b.Value },
        StrArg s => new() { ["str"] = s.Value },
        NoneArg => new() { ["none"] = null },
        EllipsisArg => new() { ["ellipsis"] = null },
        DTypeArg d => new() { ["dtype"] = d.Value.TorchName() },
        ListArg l => new() { [l.IsTuple ? "tuple" : "list"] = Args(l.Items) },
        SliceArg s => new() { ["slice"] = Args([s.Start, s.Stop, s.Step]) },
        _ => throw new ArgumentOutOfRangeException(nameof(arg)),
    };

    private static JsonObject MetaJson(ValueMeta meta) => meta switch
    {
        TensorMeta t => new()
        {
            ["tensor"] = new JsonObject
            {
                ["dtype"] = t.DType.TorchName(),
                ["shape"] = new JsonArray(t.Shape.Dims.Select(d => d.Value is { } v ? JsonValue.Create(v) : JsonValue.Create(d.Symbol)).ToArray<JsonNode?>()),
                ["strides"] = t.StrideDims is null ? null : new JsonArray(t.StrideDims.Select(d => d.Value is { } v ? JsonValue.Create(v) : (JsonNode?)JsonValue.Create(d.Symbol)).ToArray()),
                ["device"] = t.Device.ToString(),
                ["requires_grad"] = t.RequiresGrad,
            },
        },
        TupleMeta t => new() { ["tuple"] = new JsonArray(t.Items.Select(MetaJson).ToArray<JsonNode?>()) },
        ScalarMeta s => new() { ["scalar"] = s.ToString() },
        NoneMeta => new() { ["none"] = null },
        _ => throw new ArgumentOutOfRangeException(nameof(meta)),
    };

    private static Graph ReadGraph(JsonObject o) =>
        new((o["nodes"] as JsonArray ?? throw new FormatException("graph JSON needs a 'nodes' array")).Select(n => ReadNode(n!.AsObject())));

    private static Node ReadNode(JsonObject o)
    {
        var name = Str(o, "name");
        var meta = ReadMeta(o["meta"]!.AsObject());
        EquatableList<Arg> ArgList(string key) => (o[key] as JsonArray ?? []).Select(a => ReadArg(a!.AsObject())).ToEquatableList();
        EquatableList<Kwarg> KwargList() => (o["kwargs"] as JsonObject ?? []).Select(p => new Kwarg(p.Key, ReadArg(p.Value!.AsObject()))).ToEquatableList();
        Node node = Str(o, "op") switch
        {
            "placeholder" => new Placeholder(name, meta),
            "get_attr" => new GetAttr(name, Str(o, "target"), meta),
            "constant" => new Constant(name, new TensorData((meta as TensorMeta ?? throw new FormatException($"constant {name} needs tensor metadata")).DType, Convert.FromBase64String(Str(o, "data"))), meta),
            "call_function" => new CallOp(name, OpRegistry.GetOrOpaque(Str(o, "target")), ArgList("args"), KwargList(), meta),
            "call_method" => new CallOp(name, MethodOp(o), ArgList("args"), KwargList(), meta, IsMethod: true),
            "call_module" => new CallModule(name, Str(o, "target"), ArgList("args"), KwargList(), meta),
            "cond" => new Cond(name, ReadArg(o["predicate"]!.AsObject()), ReadGraph(o["true_graph"]!.AsObject()), ReadGraph(o["false_graph"]!.AsObject()), ArgList("operands"), meta),
            "while_loop" => new WhileLoop(name, ReadGraph(o["cond_graph"]!.AsObject()), ReadGraph(o["body_graph"]!.AsObject()), ArgList("operands"), meta),
            "output" => new Output(name, ReadArg(o["value"]!.AsObject()), meta),
            var op => throw new FormatException($"unknown node op '{op}' (node {name})"),
        };
        return o["source"] is JsonObject s
            ? node with { Source = new SourceLocation(Str(s, "file"), (int)s["line"]!, (int)s["column"]!) }
            : node;
    }

    private static OpDef MethodOp(JsonObject o)
    {
        if (o["registry_name"] is { } registry && OpRegistry.TryGet((string)registry!, out var op)) return op;
        return OpRegistry.TryGetMethod(Str(o, "target"), out var m) ? m : throw new FormatException($"unknown Tensor method '{Str(o, "target")}'");
    }

    private static Arg ReadArg(JsonObject o)
    {
        var (key, value) = o.Single();
        return key switch
        {
            "ref" => new RefArg((string)value!),
            "int" => new IntArg((long)value!),
            "size" => new SizeArg(SizeExpr.Parse((string)value!)),
            "float" => new FloatArg(value!.GetValueKind() == JsonValueKind.String ? double.Parse((string)value!, System.Globalization.CultureInfo.InvariantCulture) : (double)value),
            "bool" => new BoolArg((bool)value!),
            "str" => new StrArg((string)value!),
            "none" => NoneArg.Instance,
            "ellipsis" => EllipsisArg.Instance,
            "dtype" => new DTypeArg(DTypeNames.FromTorchName((string)value!) ?? throw new FormatException($"unknown dtype {value}")),
            "list" or "tuple" => new ListArg(value!.AsArray().Select(a => ReadArg(a!.AsObject())).ToEquatableList(), key == "tuple"),
            "slice" => value!.AsArray().Select(a => ReadArg(a!.AsObject())).ToArray() is [var a, var b, var c] ? new SliceArg(a, b, c) : throw new FormatException("slice needs 3 parts"),
            _ => throw new FormatException($"unknown argument kind '{key}'"),
        };
    }

    private static ValueMeta ReadMeta(JsonObject o)
    {
        var (key, value) = o.Single();
        switch (key)
        {
            case "tensor":
                var t = value!.AsObject();
                var shape = Shape.Of(t["shape"]!.AsArray().Select(d => d!.GetValueKind() == JsonValueKind.Number ? Dim.Of((long)d) : Dim.Sym((string)d!)));
                var strides = t["strides"] is JsonArray s ? s.Select(x => x!.GetValueKind() == JsonValueKind.Number ? Dim.Of((long)x) : Dim.Sym((string)x!)).ToEquatableList() : null;
                var deviceParts = Str(t, "device").Split(':');
                var device = new Device(deviceParts[0], deviceParts.Length > 1 ? int.Parse(deviceParts[1]) : null);
                return new TensorMeta(shape, DTypeNames.FromTorchName(Str(t, "dtype")) ?? throw new FormatException("unknown dtype"), device, null, (bool)t["requires_grad"]!) { StrideDims = strides };
            case "tuple": return new TupleMeta(value!.AsArray().Select(m => ReadMeta(m!.AsObject())).ToEquatableList());
            case "scalar": return new ScalarMeta(Enum.Parse<ScalarKind>((string)value!, ignoreCase: true));
            case "none": return NoneMeta.Instance;
            default: throw new FormatException($"unknown metadata kind '{key}'");
        }
    }

    private static string Str(JsonObject o, string key) => (string?)o[key] ?? throw new FormatException($"missing '{key}'");
}
