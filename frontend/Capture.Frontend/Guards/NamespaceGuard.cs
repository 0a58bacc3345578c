namespace Capture.Frontend;

/// <summary>Which dict a <see cref="NamespaceGuard"/> reads: one it holds, or the globals or builtins of the frame being called.</summary>
public enum NamespaceScope { Held, FrameGlobals, FrameBuiltins }

/// <summary>
/// The names a capture looked up in one namespace (a module's or a class's dict, an instance's
/// __dict__, the frame's globals or builtins) are still what they were: each entry the same object,
/// or still absent. <see cref="Empty"/>: the dict must stay empty (an nn.Module's hook dicts). A
/// monkeypatch (torch.sigmoid = f, nn.ReLU.forward = g, torch.Tensor.sigmoid = h, a global shadowing
/// a builtin) fails it. Checked through the dict's version tag (PEP 509): while the tag is the one
/// seen when the entries last matched, nothing in the dict changed, and the check is one read.
/// </summary>
public sealed record NamespaceGuard(NamespaceScope Scope, PyObject? Dict, string Namespace, IReadOnlyList<KeyValuePair<string, PyObject?>> Entries, bool Empty = false) : Guard
{
    private readonly VersionSeen _seen = new();

    private sealed class VersionSeen
    {
        public nint Dict;
        public ulong Version;
    }

    public override string Kind => "namespace";

    public override string Use => Empty ? $"relies on {Namespace} being empty" : $"looks up {Names} in {Namespace}";

    private string Names => string.Join(", ", Entries.Select(e => e.Key));

    public override string? Check(FrameState frame, ITorchBridge torch)
    {
        var dict = Scope switch
        {
            NamespaceScope.Held => Dict!,
            NamespaceScope.FrameGlobals => frame.Globals,
            NamespaceScope.FrameBuiltins => frame.Builtins,
        };
        var version = dict.DictVersion;
        var seen = _seen;
        if (version != 0 && seen.Version == version && seen.Dict == dict.Address) return null;
        if (Empty && dict.Length != 0) return $"{Namespace} is no longer empty";
        foreach (var (key, expected) in Entries)
        {
            var actual = dict.DictItemAddress(key);
            if (actual == (expected?.Address ?? 0)) continue;
            if (expected is null) return $"{Namespace} now has '{key}' (it shadows what the capture used)";
            if (actual == 0) return $"{Namespace} no longer has '{key}'";
            return $"{Namespace}.{key} changed: expected {IdMatchGuard.Describe(expected)}, actual another object";
        }
        (seen.Dict, seen.Version) = (dict.Address, version);
        return null;
    }

    public override string ToString() => Empty ? $"{Namespace} is empty"
        : $"{Namespace}: {string.Join(", ", Entries.Select(e => e.Value is null ? $"no '{e.Key}'" : $"'{e.Key}' unchanged"))}";
}
