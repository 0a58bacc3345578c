using Capture.Python;

namespace Capture.Bytecode;

/// <summary>
/// Where a value came from, so the capture can be re-checked against a later call: a local, a
/// global, a stack slot at a resume point, or an attribute / item of another source. Prints the
/// way guards read: L['x'], G['W'], L['self'].fc.weight, L['xs'][0], S[1].
/// </summary>
public abstract record Source
{
    public abstract PyObject Resolve(FrameState frame);
}

public sealed record LocalSource(string Name) : Source
{
    public override PyObject Resolve(FrameState frame) => frame.Local(Name);
    public override string ToString() => $"L['{Name}']";
}

public sealed record GlobalSource(string Name) : Source
{
    public override PyObject Resolve(FrameState frame) => frame.Global(Name);
    public override string ToString() => $"G['{Name}']";
}

/// <summary>The value on the stack at a resume point, counted from the bottom.</summary>
public sealed record StackSource(int Index) : Source
{
    public override PyObject Resolve(FrameState frame) =>
        frame.Stack[Index]?.NewReference() ?? throw new KeyNotFoundException($"stack slot {Index} holds NULL");
    public override string ToString() => $"S[{Index}]";
}

public sealed record AttrSource(Source Base, string Attr) : Source
{
    public override PyObject Resolve(FrameState frame)
    {
        using var owner = Base.Resolve(frame);
        return owner.GetAttr(Attr);
    }

    public override string ToString() => $"{Base}.{Attr}";
}

public sealed record ItemSource(Source Base, long Index) : Source
{
    public override PyObject Resolve(FrameState frame)
    {
        using var owner = Base.Resolve(frame);
        return owner.GetItem(Index);
    }

    public override string ToString() => $"{Base}[{Index}]";
}

public sealed record KeySource(Source Base, string Key) : Source
{
    public override PyObject Resolve(FrameState frame)
    {
        using var owner = Base.Resolve(frame);
        return owner.GetItem(Key);
    }

    public override string ToString() => $"{Base}['{Key}']";
}

/// <summary>
/// The globals of a module Capture trusts not to change (torch and its submodules, math...):
/// functions from there read their globals without guards, as attributes of torch do.
/// </summary>
public sealed record TrustedModuleSource(string Module) : Source
{
    public override PyObject Resolve(FrameState frame)
    {
        using var module = Py.Import(Module);
        return module.GetAttr("__dict__");
    }

    public override string ToString() => $"sys.modules['{Module}'].__dict__";
}
