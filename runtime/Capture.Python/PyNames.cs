namespace Capture.Python;

/// <summary>Where a Python object comes from, by name: its module and its qualified name ("torch.nn.functional.gelu").</summary>
public static class PyNames
{
    /// <summary>A module's own name, else the object's __module__, else "".</summary>
    public static string ModuleOf(PyObject value)
    {
        foreach (var attr in new[] { "__name__", "__module__" })
        {
            if (!value.HasAttr(attr)) continue;
            using var name = value.GetAttr(attr);
            if (name.IsStr && (attr == "__module__" || value.TypeName == "module")) return name.AsString();
        }
        return "";
    }

    /// <summary>module.name for functions and classes, the module's name for modules, else the type's name.</summary>
    public static string QualifiedNameOf(PyObject value)
    {
        var module = ModuleOf(value);
        if (value.TypeName == "module") return module;
        if (!value.HasAttr("__name__")) return value.TypeName;
        using var name = value.GetAttr("__name__");
        return name.IsStr ? (module.Length > 0 ? module + "." : "") + name.AsString() : value.TypeName;
    }

    /// <summary>Whether the object comes from one of <paramref name="modules"/> or their submodules.</summary>
    public static bool IsFrom(PyObject value, IReadOnlyList<string> modules)
    {
        var module = ModuleOf(value);
        return modules.Any(m => module == m || module.StartsWith(m + ".", StringComparison.Ordinal));
    }
}
