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
