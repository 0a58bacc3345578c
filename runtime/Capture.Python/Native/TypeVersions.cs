namespace Capture.Python.Native;

/// <summary>
/// Where CPython 3.11 keeps a type's version tag: PyTypeObject's tp_version_tag, an unsigned int after
/// tp_del (Include/cpython/object.h). CPython hands tags out from one process-wide counter, sets a type's
/// to 0 whenever the type or a class in its MRO changes (PyType_Modified) and gives it a new one at its
/// next attribute-cache lookup, so an equal nonzero tag means the type's attributes are as they were.
/// Checked once against a real class (its tag must go from nonzero to another value when the class
/// changes) before anything relies on it.
/// </summary>
internal static class TypeVersions
{
    public const int Offset = 384;

    /// <summary>tp_descr_get's offset in PyTypeObject: nonzero for the types of descriptors (functions, properties, slots).</summary>
    public const int DescrGetOffset = 272;

    private static readonly Lazy<bool> Checked = new(Check);

    public static bool Readable => Checked.Value;

    /// <summary>Whether objects of <paramref name="type"/> are descriptors (a class attribute of that type is bound or computed when read, not returned as it is).</summary>
    public static unsafe bool IsDescriptorType(nint type) => *(nint*)(type + DescrGetOffset) != 0;

    /// <summary>The type's tag, after a lookup that assigns one when it has none; 0 where tags cannot be read or the type has none.</summary>
    public static unsafe uint Tag(nint type) => Readable ? *(uint*)(type + Offset) : 0;

    private static unsafe bool Check()
    {
        if (IntPtr.Size != 8 || !(Interpreter.Version?.StartsWith("3.11", StringComparison.Ordinal) ?? false)) return false;
        using var scope = Py.Exec("class Probe:\n    pass\n");
        using var probe = scope.GetItem("Probe");
        using var name = new InternedName("capture_probe_attribute");
        CApi._PyType_Lookup(probe.Handle, name.Handle); // assigns the tag
        var before = *(uint*)(probe.Handle + Offset);
        using var value = Py.Int(1);
        probe.SetAttr("capture_probe_attribute", value);
        var after = *(uint*)(probe.Handle + Offset);
        CApi._PyType_Lookup(probe.Handle, name.Handle);
        var again = *(uint*)(probe.Handle + Offset);
        using var function = Py.Eval("type(lambda: 0)");
        using var property = Py.Eval("property");
        return before != 0 && after != before && again != 0 && again != before
            && *(nint*)(function.Handle + DescrGetOffset) != 0 && *(nint*)(property.Handle + DescrGetOffset) != 0
            && *(nint*)(PyTypes.Long + DescrGetOffset) == 0 && *(nint*)(PyTypes.Tuple + DescrGetOffset) == 0;
    }
}
