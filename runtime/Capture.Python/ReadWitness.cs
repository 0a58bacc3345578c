using Capture.Python.Native;

namespace Capture.Python;

/// <summary>
/// Why reading an attribute or a str key again gives the object an earlier read gave, without reading
/// it: the owner's type is the same type, unchanged (its version tag), and every dict the read looked in
/// is the same dict, unchanged (its version tag). CPython hands both tags out from process-wide counters
/// and changes them on every change, so an equal address and tag is the same object in the same state,
/// never a new one at a freed address. Made by <see cref="PyObject.GetAttrWitnessed"/> and
/// <see cref="PyObject.GetDictItemWitnessed"/>; a guard check reads a module's attribute chains
/// (L['self'].features[3].block[1].weight) through these instead of walking them on every call.
/// </summary>
public sealed class ReadWitness
{
    private readonly nint _type;
    private readonly uint _typeTag;
    private readonly bool _item;
    // the dicts looked in, in order: the owner's __dict__ (or, for an item, the owner itself), then the
    // fallback dicts found in it; each is alive while the one before it is unchanged (it holds it)
    private readonly (nint Dict, ulong Version)[] _looked;
    // for an item of a tuple: the tuple, held (it never changes, and while held no other object takes its address)
    private readonly PyObject? _tuple;

    private ReadWitness(nint type, uint typeTag, bool item, (nint, ulong)[] looked) =>
        (_type, _typeTag, _item, _looked) = (type, typeTag, item, looked);

    internal static ReadWitness OfAttr(nint type, uint typeTag, (nint, ulong)[] looked) => new(type, typeTag, false, looked);

    internal static ReadWitness OfItem(nint dict) => new(CApi.TypeOf(dict), 0, true, [(dict, Version(dict))]);

    private ReadWitness(PyObject tuple) => (_type, _looked, _tuple) = (PyTypes.Tuple, [], tuple);

    internal static ReadWitness OfTupleItem(PyObject tuple) => new(tuple.NewReference());

    internal static unsafe ulong Version(nint dict) => *(ulong*)(dict + DictVersions.Offset);

    /// <summary>Whether the read from <paramref name="owner"/> gives the same object as the read that made this witness.</summary>
    public bool Holds(PyObject owner)
    {
        var handle = owner.Handle;
        var type = CApi.TypeOf(handle);
        if (type != _type) return false;
        if (_tuple is not null) return handle == _tuple.Handle;
        if (_item) return handle == _looked[0].Dict && Version(handle) == _looked[0].Version;
        if (TypeVersions.Tag(type) != _typeTag) return false;
        var dict = CApi.PyObject_GenericGetDict(handle, 0);
        if (dict == 0)
        {
            CApi.PyErr_Clear();
            return false;
        }
        var same = dict == _looked[0].Dict && Version(dict) == _looked[0].Version;
        CApi.Py_DecRef(dict);
        if (!same) return false;
        for (var i = 1; i < _looked.Length; i++)
            if (Version(_looked[i].Dict) != _looked[i].Version) return false;
        return true;
    }

    /// <summary>Whether witnesses can be made in this interpreter (CPython 3.11's dict and type version tags are readable).</summary>
    public static bool Available => DictVersions.Readable && TypeVersions.Readable;

    /// <summary>Dicts whose reads a witness covers: exact dict and exact OrderedDict (whose item reads run no Python code).</summary>
    internal static bool IsPlainDict(nint o) => CApi.TypeOf(o) is var t && (t == PyTypes.Dict || t == PyTypes.OrderedDict);
}
