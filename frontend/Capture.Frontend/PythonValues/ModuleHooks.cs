namespace Capture.Frontend;

/// <summary>
/// The hooks nn.Module.__call__ runs around forward: the module's own and torch's global ones. A
/// module with any is not captured through forward; one without has its hook dicts guarded empty.
/// </summary>
public static class ModuleHooks
{
    private static readonly string[] OwnHooks = ["_forward_hooks", "_forward_pre_hooks", "_backward_hooks"];
    private static readonly string[] GlobalHooks = ["_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks"];

    public static bool Any(PyObject module) => HookDicts(module).Any(h => { using (h.Dict) return h.Dict.Length > 0; });

    /// <summary>Guards every hook dict of <paramref name="module"/> empty (capture relies on forward being all that runs).</summary>
    public static void GuardNone(NamespaceReads reads, PyObject module, string description)
    {
        foreach (var (dict, name) in HookDicts(module))
            using (dict)
                reads.Empty(dict, name.StartsWith("_global", StringComparison.Ordinal) ? $"torch.nn.modules.module.{name}" : $"{description}.{name}");
    }

    private static IEnumerable<(PyObject Dict, string Name)> HookDicts(PyObject module)
    {
        foreach (var name in OwnHooks)
            if (module.HasAttr(name)) yield return (module.GetAttr(name), name);
        using var torchModule = Py.Import("torch.nn.modules.module");
        foreach (var name in GlobalHooks)
            if (torchModule.HasAttr(name)) yield return (torchModule.GetAttr(name), name);
    }
}
