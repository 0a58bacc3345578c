namespace Capture.Bytecode;

/// <summary>Whether an nn.Module has hooks around its forward (such modules are not captured through forward).</summary>
public static class ModuleHooks
{
    public static bool Any(PyObject module)
    {
        foreach (var name in new[] { "_forward_hooks", "_forward_pre_hooks", "_backward_hooks" })
        {
            if (!module.HasAttr(name)) continue;
            using var hooks = module.GetAttr(name);
            if (hooks.Length > 0) return true;
        }
        return false;
    }
}
