namespace Capture.Frontend;

/// <summary>
/// What calling an nn.Module runs, as both capture paths inline it: nn.Module.__call__ runs the hooks
/// (none, or the module is not inlined) and then type(m).forward, unless the instance has a forward of
/// its own. Guards each of those lookups.
/// </summary>
public static class ModuleCall
{
    /// <summary>Whether calling an instance of <paramref name="type"/> is nn.Module.__call__ (not an override).</summary>
    public static bool IsModuleCall(PyObject type)
    {
        using var torchModule = Py.Import("torch.nn");
        using var module = torchModule.GetAttr("Module");
        using var call = module.GetAttr("__call__");
        return type.GetAttrAddress("__call__") == call.Address;
    }

    /// <summary>
    /// Guards what calling <paramref name="module"/> looked up: type(m).__call__ and .forward, the
    /// instance's own forward or its absence, and no hooks.
    /// </summary>
    public static void Guard(NamespaceReads reads, PyObject module, PyObject type, string description)
    {
        reads.TypeAttribute(type, "__call__");
        reads.TypeAttribute(type, "forward");
        using var own = InstanceForward(module);
        using var dict = module.GetAttr("__dict__");
        reads.Entry(dict, $"{description}.__dict__", "forward", own);
        ModuleHooks.GuardNone(reads, module, description);
    }

    /// <summary>A forward set on the instance itself (m.forward = f), which nn.Module.__call__ runs instead of the class's; null when there is none.</summary>
    public static PyObject? InstanceForward(PyObject module)
    {
        using var dict = module.GetAttr("__dict__");
        return dict.DictItemAddress("forward") == 0 ? null : dict.GetItem("forward");
    }
}
