namespace Capture.Frontend;

/// <summary>What kind of real Python object a capture holds, which decides how it is used.</summary>
public enum ObjectKind { Module, TorchFunction, UserFunction, Builtin, NnModule, Class, Other }

/// <summary>
/// How both capture paths read the Python objects they meet: what kind each is, its qualified name,
/// and whether it comes from a module Capture trusts not to change (torch, math, builtins...), whose
/// functions and attributes are used without guards.
/// </summary>
public static class PythonObjects
{
    public static readonly IReadOnlyList<string> TrustedModules =
        ["torch", "math", "operator", "builtins", "numpy", "functools", "itertools", "numbers", "typing", "warnings", "collections"];

    public static bool IsTrusted(PyObject value) => PyNames.IsFrom(value, TrustedModules);

    /// <summary>Whether a module name is a trusted module or one of its submodules (torch.nn.functional).</summary>
    public static bool IsTrustedModule(string module) =>
        TrustedModules.Any(m => module == m || module.StartsWith(m + ".", StringComparison.Ordinal));

    public static string QualifiedName(PyObject value) => PyNames.QualifiedNameOf(value);

    // standard-library modules whose Python functions are pure enough to trace (the others, like
    // Dynamo's skip list, run as plain Python: logging, threading, random, re, os... take locks, do
    // I/O or keep state, and tracing them breaks deep inside on their internals)
    private static readonly string[] TracedStdlib =
        ["functools", "itertools", "collections", "operator", "copy", "copyreg", "dataclasses", "enum", "typing", "abc",
         "contextlib", "numbers", "types", "_collections_abc", "warnings", "keyword", "reprlib", "string", "math", "statistics"];

    private static string? _stdlib;

    /// <summary>
    /// The standard-library module of a Python function that Capture does not trace (logging.getLogger
    /// gives "logging"), or null for anything else (the user's code, torch, traced modules).
    /// </summary>
    public static string? UntracedStdlibModule(PyObject function)
    {
        if (!function.HasAttr("__code__")) return null;
        using var code = function.GetAttr("__code__");
        using var file = code.GetAttr("co_filename");
        if (!file.IsStr) return null;
        if (_stdlib is null)
        {
            using var sysconfig = Py.Import("sysconfig");
            using var paths = sysconfig.CallMethod("get_paths");
            using var stdlib = paths.GetItem("stdlib");
            _stdlib = stdlib.AsString().TrimEnd('/') + "/";
        }
        var path = file.AsString();
        if (!path.StartsWith(_stdlib, StringComparison.Ordinal) || path.Contains("-packages/", StringComparison.Ordinal)) return null;
        var module = path[_stdlib.Length..].Split('/')[0];
        if (module.EndsWith(".py", StringComparison.Ordinal)) module = module[..^3];
        return TracedStdlib.Contains(module) ? null : module;
    }

    public static ObjectKind Classify(PyObject value, ITorchBridge torch)
    {
        if (torch.IsModule(value)) return ObjectKind.NnModule;
        var type = value.TypeName;
        if (type == "module") return ObjectKind.Module;
        if (type == "function") return ObjectKind.UserFunction;
        if (value.IsType) return ObjectKind.Class;
        if (type is "builtin_function_or_method" or "method_descriptor" or "wrapper_descriptor" or "_ops.OpOverloadPacket")
            return IsTrusted(value) && !PyNames.ModuleOf(value).StartsWith("builtins", StringComparison.Ordinal) ? ObjectKind.TorchFunction : ObjectKind.Builtin;
        return ObjectKind.Other;
    }
}
